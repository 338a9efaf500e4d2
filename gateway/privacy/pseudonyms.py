"""Privacy helpers: a caller's number becomes a keyed pseudonym at the door."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage.db import session_scope
from gateway.storage.models import Reporter

log = logging.getLogger(__name__)

_NON_DIGITS = re.compile(r"[^\d]")


def normalise_msisdn(raw: str) -> str:
    """Reduce a phone number to its digits, so +243 81... and 243 81... match."""
    digits = _NON_DIGITS.sub("", raw or "")
    if digits.startswith("00"):
        digits = digits[2:]
    return digits


def pseudonym(raw_number: str, secret: str) -> str:
    """Return the keyed pseudonym (HMAC-SHA256, hex) of a phone number."""
    digits = normalise_msisdn(raw_number)
    return hmac.new(secret.encode(), b"msisdn:" + digits.encode(), hashlib.sha256).hexdigest()


def caller_pseudonym(raw_number: str, app: Flask | None = None) -> str:
    """Return the caller's pseudonym under the current key, relinking one made by an old key."""
    app = app or current_app
    current = pseudonym(raw_number, app.config["SECRET_KEY"])
    previous = [pseudonym(raw_number, key) for key in app.config.get("PREVIOUS_SECRET_KEYS", ())]
    if previous:
        _relink_reporter(app, current, previous)
    return current


def _relink_reporter(app: Flask, current: str, previous: list[str]) -> None:
    """Move a reporter known by an old pseudonym to the current one, keeping their history."""
    try:
        with session_scope(app) as session:
            if session.scalar(select(Reporter.id).where(Reporter.pseudonym == current)):
                return
            reporter = session.scalar(select(Reporter).where(Reporter.pseudonym.in_(previous)))
            if reporter is None:
                return
            reporter.pseudonym = current
            session.commit()
            log.info("reporter %s relinked to the current pseudonym key", reporter.id)
    except SQLAlchemyError as exc:
        # Relinked on a later hop; meanwhile the caller is simply new to the gateway.
        log.warning("reporter not relinked: %s", type(exc).__name__)
