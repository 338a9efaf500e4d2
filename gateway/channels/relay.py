"""Relay: a registered focal point reports what someone told them, for that person.

A focal point of any role but `conduct` (a complaint cannot be relayed by someone who may be of
the accused organisation's side of the desk) sends RELAY by SMS, or chooses "Report for someone
else" on USSD, an option shown only to their numbers. They walk the same flows (relay.yaml),
without the follow-up SMS and the call questions. The case names them (`relayed_by_id`) and is
linked to no reporter: the focal point is staff, and no number is kept.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import Submission
from gateway.cases.intake import create_case
from gateway.channels.submit import Filed, nearest_service_line
from gateway.privacy.numbers import e164
from gateway.storage.crypto import encrypt
from gateway.storage.models import Channel, FocalPoint, Role

RELAY_FLOW = "relay"
# The flag the session of a focal point's number begins with (flows: `requires: focal_point`).
FOCAL_POINT = "focal_point"
# What relay.yaml saves: the flow the focal point chose.
RELAY_ANSWER = "relay"
# Answers of the reporter's own phone: never kept from a relay, even if given.
REPORTER_ONLY = ("callback", "contact")


def relayer(points: list[FocalPoint]) -> FocalPoint | None:
    """Return the sender's row that may relay (any role but conduct), or None."""
    allowed = sorted((fp for fp in points if fp.active and fp.role != Role.CONDUCT),
                     key=lambda fp: fp.id)
    return allowed[0] if allowed else None


def may_relay(session: Session, phone: str) -> bool:
    """Tell whether a number is a focal point's that may relay: one indexed query (at dial)."""
    number = e164(phone)
    if number is None:
        return False
    found = session.scalar(
        select(FocalPoint.id)
        .where(FocalPoint.phone == number, FocalPoint.active.is_(True),
               FocalPoint.role != Role.CONDUCT)
        .limit(1)
    )
    return found is not None


def relayer_of(session: Session, phone: str) -> FocalPoint | None:
    """Return the focal point a number relays as (looked up again when the report is sent)."""
    number = e164(phone)
    if number is None:
        return None
    return relayer(list(session.scalars(
        select(FocalPoint).where(FocalPoint.phone == number, FocalPoint.active.is_(True))
    )))


def is_relay(submission: Submission) -> bool:
    """Tell whether a finished flow was walked as a relay (relay.yaml's answer is in it)."""
    return bool(submission.answers.get(RELAY_ANSWER))


def file_relay(
    app: Flask,
    session: Session,
    submission: Submission,
    *,
    by: FocalPoint,
    channel: Channel,
    key: str,
    reference: str | None = None,
) -> Filed:
    """Commit the case a relayed report makes (once per key), relayed by `by`, no reporter."""
    answers = {k: v for k, v in submission.answers.items() if k not in REPORTER_ONLY}
    submission = Submission(submission.flow, submission.language, answers)
    # The pseudonym is not used for a relay: the case is linked to no reporter.
    case, created = create_case(session, submission, pseudonym="", channel=channel, key=key,
                                reference=reference, relayed_by=by.id)
    case_id, case_reference, urgent = case.id, case.reference, case.is_urgent
    details = answers.get("details")
    if created and details:
        # What the focal point wrote (SMS), encrypted as a reporter's words are.
        case.details = encrypt(details, app)
        session.commit()
    service = nearest_service_line(app, session, submission, case_reference)
    return Filed(case_id, case_reference, urgent, created, service)
