"""What the gateway remembers of a reporter: their keyed pseudonym and their language, no more."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.storage.db import session_scope
from gateway.storage.models import Reporter, utcnow

log = logging.getLogger(__name__)

def remembered_language(pseudonym: str) -> str | None:
    """Return the language this sender chose or reported in, or None, also if the database fails.

    Only SMS replies use it (a conversation the sender starts); a USSD call always begins with
    the language choice, so that no screen shows that a phone was used before.
    """
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
