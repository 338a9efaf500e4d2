"""The one submit of every channel: a status lookup, or a report made a case, then routed.

USSD and SMS walk the same flows; when a flow finishes, both come here. A report becomes a case
committed before the caller reads its reference, with the reporter's words (SMS) encrypted and
the one follow-up SMS they may have asked for; its routing is queued after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flows import Submission
from gateway.cases.follow_up import STATUS_TEXTS, lookup_status, request_callback
from gateway.cases.intake import create_case, points_to_health
from gateway.conversation import get_catalogs
from gateway.storage.crypto import encrypt
from gateway.storage.models import Case, Channel, Reporter
from workers.enqueue import enqueue_route

log = logging.getLogger(__name__)

STATUS_FLOW = "status"


def status_text(app: Flask, session: Session, pseudonym: str, typed: str, lang: str) -> str:
    """Answer a reference typed by a reporter with its neutral state, in their language."""
    state, reference = lookup_status(app, session, pseudonym, typed)
    return get_catalogs(app).gettext(lang, STATUS_TEXTS[state], reference=reference)


def answer_status(app: Flask, session: Session, pseudonym: str,
                  submission: Submission) -> dict[str, str]:
    """Return the status flow's answer for the reference it asked for."""
    typed = submission.answers.get("reference") or ""
    return {"status": status_text(app, session, pseudonym, typed, submission.language)}


@dataclass(frozen=True)
class Filed:
    """A report committed as a case: what the caller reads, and what to route."""

    case_id: int
    reference: str
    urgent: bool
    created: bool  # new (or a partial case now completed): to be routed

    def answer(self, submission: Submission) -> dict[str, str]:
        """Return what the flow's last screen shows: the reference, and the health hint."""
        return {"reference": self.reference, **points_to_health(submission)}


def file_report(
    app: Flask,
    session: Session,
    submission: Submission,
    *,
    pseudonym: str,
    channel: Channel,
    key: str,
    number: str = "",
    reference: str | None = None,
    triage: bool = False,
) -> Filed:
    """Commit the case a finished report makes (once per key); raise SQLAlchemyError if refused.

    number: the reporter's phone, kept (encrypted) only when they asked for a follow-up SMS.
    triage: a message no flow understood; a triage focal point reads it (nearest the reporter's
    last place).
    """
    case, created = create_case(session, submission, pseudonym=pseudonym, channel=channel,
                                key=key, reference=reference)
    filed = Filed(case.id, case.reference, case.is_urgent, created)
    if created:
        _keep_extras(app, session, case, submission, pseudonym, number, triage)
    return filed


def _keep_extras(app: Flask, session: Session, case: Case, submission: Submission,
                 pseudonym: str, number: str, triage: bool) -> None:
    """Add the reporter's words, the follow-up SMS asked for and the triage flag to a new case."""
    details = submission.answers.get("details")
    if details:
        case.details = encrypt(details, app)
    if triage:
        case.needs_triage = True
        reporter = session.get(Reporter, case.reporter_id)
        if case.location_id is None and reporter is not None:
            case.location_id = reporter.last_location_id
    try:
        if submission.answers.get("callback") == "yes" and number:
            # The one SMS they asked for when the case is followed up: number encrypted.
            request_callback(app, session, case, pseudonym=pseudonym, number=number,
                             language=submission.language)
        session.commit()
    except SQLAlchemyError as exc:
        # The case is saved and will be routed; only what came with it is lost.
        session.rollback()
        log.error("case %s: details or callback request not kept: %s", case.id,
                  type(exc).__name__)


def route(app: Flask, filed: Filed) -> None:
    """Queue the routing of a committed case; if Redis refuses, the sweep routes it."""
    if filed.created:
        enqueue_route(app, filed.case_id, filed.urgent)
