"""What the gateway remembers of a reporter: their keyed pseudonym and their language, no more."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.db import session_scope
from gateway.models import Reporter, utcnow

log = logging.getLogger(__name__)


def remembered_language(pseudonym: str) -> str | None:
    """Return the language this caller chose before, or None (also when the database is down)."""
    try:
        with session_scope() as session:
            return session.scalar(
                select(Reporter.language).where(Reporter.pseudonym == pseudonym)
            )
    except SQLAlchemyError as exc:
        # The caller can still choose their language on the first screen.
        log.warning("remembered language not read: %s", type(exc).__name__)
        return None


def remember_language(pseudonym: str, language: str) -> None:
    """Keep the caller's chosen language, so later dials skip the choice."""
    for _ in range(2):
        try:
            with session_scope() as session:
                reporter = session.scalar(select(Reporter).where(Reporter.pseudonym == pseudonym))
                if reporter is None:
                    session.add(Reporter(pseudonym=pseudonym, language=language))
                elif reporter.language != language:
                    reporter.language = language
                    reporter.last_seen_at = utcnow()
                else:
                    return
                session.commit()
            return
        except IntegrityError:
            continue  # created at the same moment by another hop: update it
        except SQLAlchemyError as exc:
            log.warning("language not remembered: %s", type(exc).__name__)
            return
