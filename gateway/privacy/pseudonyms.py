"""Privacy helpers: a caller's number becomes a keyed pseudonym at the door."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway.privacy.numbers import require_e164
from gateway.storage.db import session_scope
from gateway.storage.models import Reporter

log = logging.getLogger(__name__)


def pseudonym(raw_number: str, secret: str) -> str:
    """Return the keyed pseudonym (HMAC-SHA256, hex) of a phone number, in any written form.

    Raises InvalidNumber for what is not a phone number (privacy.numbers.e164).
    """
    # The E.164 number's digits without the "+", as before: pseudonyms made stay the same.
    digits = require_e164(raw_number)[1:]
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
