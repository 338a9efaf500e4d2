"""Turning a finished flow into a case, committed before the caller hears the reference."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows import Submission
from gateway.models import (
    CATEGORIES,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Channel,
    Location,
    Reporter,
    utcnow,
)
from gateway.references import new_reference

log = logging.getLogger(__name__)

ANSWER_VALUES = {
    "children": {"1", "2-3", "4+", "unknown"},
    "sex": {"girls", "boys", "both", "unknown"},
    "urgent": {"yes", "no", "unknown"},
}
REFERENCE_ATTEMPTS = 8


def source_key(channel: Channel, session_id: str) -> str:
    """Digest a channel's session id, so a session can make at most one case."""
    return hashlib.sha256(f"{channel.value}:{session_id}".encode()).hexdigest()


def _answer(submission: Submission, key: str) -> str:
    value = submission.answers.get(key) or "unknown"
    return value if value in ANSWER_VALUES[key] else "unknown"


def _reporter(session: Session, pseudonym: str, language: str) -> Reporter:
    reporter = session.scalar(select(Reporter).where(Reporter.pseudonym == pseudonym))
    if reporter is None:
        reporter = Reporter(pseudonym=pseudonym, language=language)
        session.add(reporter)
        session.flush()
    reporter.language = language
    reporter.last_seen_at = utcnow()
    return reporter


def _existing(session: Session, key: str) -> Case | None:
    return session.scalar(select(Case).where(Case.source_key == key))


def complete_partial(session: Session, case: Case, submission: Submission) -> None:
    """Complete a partial case with the answers of its resumed session, to be routed again."""
    category = submission.answers.get("category") or "other"
    pcode = submission.answers.get("location")
    case.category = category if category in CATEGORIES else "other"
    case.location_id = (
        session.scalar(select(Location.id).where(Location.pcode == pcode)) if pcode else None
    )
    case.children = _answer(submission, "children")
    case.sex = _answer(submission, "sex")
    case.urgent = _answer(submission, "urgent")
    case.language = submission.language
    case.partial = False
    # Routed again, so that focal points the fuller answers add receive it (once each).
    case.status = CaseStatus.NEW
    case.events.append(CaseEvent(kind="completed", detail={}))
    session.commit()


def create_case(
    session: Session,
    submission: Submission,
    *,
    pseudonym: str,
    channel: Channel,
    key: str,
    reference: str | None = None,
    partial: Mapping[str, str] | None = None,
) -> tuple[Case, bool]:
    """Commit the case a submission describes; return it and whether it is new (to route).

    A `reference` drawn beforehand is tried first, so a case spooled while the database was
    down keeps the reference its caller heard. With `partial` (how the session ended) the case
    is saved as partial; a complete submission of the same key later completes it.
    """
    existing = _existing(session, key)
    if existing is not None:
        if existing.partial and partial is None:
            complete_partial(session, existing, submission)
            return existing, True
        return existing, False
    category = submission.answers.get("category") or "other"
    if category not in CATEGORIES:
        category = "other"
    pcode = submission.answers.get("location")
    for attempt in range(REFERENCE_ATTEMPTS):
        # References are random: on a collision draw again, one digit longer late on.
        length = 7 if attempt < REFERENCE_ATTEMPTS // 2 else 8
        try:
            location_id = (
                session.scalar(select(Location.id).where(Location.pcode == pcode))
                if pcode
                else None
            )
            reporter = _reporter(session, pseudonym, submission.language)
            if location_id is not None:
                reporter.last_location_id = location_id  # where their later SMS are triaged
            case = Case(
                reference=(
                    reference if reference and attempt == 0 else new_reference(length)
                ),
                source_key=key,
                kind=CaseKind.ALERT,
                channel=channel,
                category=category,
                location_id=location_id,
                children=_answer(submission, "children"),
                sex=_answer(submission, "sex"),
                urgent=_answer(submission, "urgent"),
                language=submission.language,
                reporter_id=reporter.id,
                partial=partial is not None,
            )
            case.events.append(CaseEvent(kind="created", detail={"channel": channel.value}))
            if partial is not None:
                case.events.append(CaseEvent(kind="partial", detail=dict(partial)))
            session.add(case)
            session.commit()
            return case, True
        except IntegrityError:
            session.rollback()
            existing = _existing(session, key)
            if existing is not None:  # the same hop, answered twice at once
                return existing, False
            log.info("case reference collision, drawing again")
    raise RuntimeError("could not draw a free case reference")
