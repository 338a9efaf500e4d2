"""What the gateway remembers of a reporter: their keyed pseudonym and their language, no more."""

from __future__ import annotations

import hashlib
import logging

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.storage.db import session_scope
from gateway.storage.models import Reporter, utcnow
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

# The language a caller chose on USSD is kept in Redis, under a digest of the pseudonym, for
# the reporter link period (GATEWAY_KEEP_REPORTER_LINK_DAYS, as language_chosen_at in the
# database): a hop writes it in its own save script, never with a database commit. It reaches
# the reporters table when the session ends (gateway.channels.ussd.events) or a case is filed.
LANGUAGE_PREFIX = "gateway:language"


def language_key(pseudonym: str) -> str:
    """Return the Redis key of a reporter's language (a digest of the pseudonym, no number)."""
    return f"{LANGUAGE_PREFIX}:{hashlib.sha256(pseudonym.encode()).hexdigest()[:40]}"


def language_seconds(app: Flask | None = None) -> int:
    """Return how long a language choice is kept in Redis: the reporter link period."""
    return int((app or current_app).config["KEEP_REPORTER_LINK_DAYS"]) * 86400


def _kept_language(pseudonym: str) -> str | None:
    try:
        raw = get_redis().get(language_key(pseudonym))
    except RedisError as exc:
        log.warning("remembered language not read from Redis: %s", type(exc).__name__)
        return None
    return raw.decode() if isinstance(raw, bytes) else raw

def remembered_language(pseudonym: str) -> str | None:
    """Return the language this sender chose or reported in, or None, also if the database fails.

    Only SMS replies use it (a conversation the sender starts); a USSD call always begins with
    the language choice, so that no screen shows that a phone was used before.
    """
    kept = _kept_language(pseudonym)
    if kept:
        return kept
    try:
        with session_scope() as session:
            language = session.scalar(
                select(Reporter.language).where(Reporter.pseudonym == pseudonym)
            )
    except SQLAlchemyError as exc:
        # The sender's keyword still gives a language.
        log.warning("remembered language not read: %s", type(exc).__name__)
        return None
    return language


def remember_language(pseudonym: str, language: str) -> None:
    """Keep the language a reporter chose, for the replies to their later SMS."""
    try:
        # The newest choice wins over one a USSD hop kept in Redis.
        get_redis().set(language_key(pseudonym), language, ex=language_seconds())
    except RedisError as exc:
        log.warning("language not kept in Redis: %s", type(exc).__name__)
    for _ in range(2):
        try:
            with session_scope() as session:
                reporter = session.scalar(select(Reporter).where(Reporter.pseudonym == pseudonym))
                if reporter is None:
                    now = utcnow()
                    session.add(
                        Reporter(pseudonym=pseudonym, language=language, language_chosen_at=now)
                    )
                elif reporter.language != language or reporter.language_chosen_at is None:
                    reporter.language = language
                    reporter.language_chosen_at = reporter.last_seen_at = utcnow()
                else:
                    return
                session.commit()
            return
        except IntegrityError:
            continue  # created at the same moment by another hop: update it
        except SQLAlchemyError as exc:
            log.warning("language not remembered: %s", type(exc).__name__)
            return
