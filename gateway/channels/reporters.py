"""What the gateway remembers of a reporter: their keyed pseudonym and their language, no more."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.storage.db import session_scope
from gateway.storage.models import Reporter, utcnow

log = logging.getLogger(__name__)

# Longer than any USSD session (about 180 s at most on the networks).
SESSION_SPAN = timedelta(minutes=10)


def remembered_language(pseudonym: str, *, chosen_before: datetime | None = None) -> str | None:
    """Return the language this caller chose (before a time), or None, also if the database fails.

    A session whose state was lost is replayed from its first input: a language chosen during
    that session must not be skipped then, or every later input would land on the wrong screen.
    """
    try:
        with session_scope() as session:
            row = session.execute(
                select(Reporter.language, Reporter.language_chosen_at).where(
                    Reporter.pseudonym == pseudonym
                )
            ).first()
    except SQLAlchemyError as exc:
        # The caller can still choose their language on the first screen.
        log.warning("remembered language not read: %s", type(exc).__name__)
        return None
    if row is None:
        return None
    language, chosen_at = row
    if chosen_before is not None and chosen_at is not None:
        if chosen_at.tzinfo is None:  # SQLite gives naive UTC times back
            chosen_at = chosen_at.replace(tzinfo=UTC)
        if chosen_at >= chosen_before:
            return None
    return language


def remember_language(pseudonym: str, language: str) -> None:
    """Keep the caller's chosen language, so later dials skip the choice."""
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
