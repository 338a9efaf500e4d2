"""A reporter's consent to a call from a support service: their number, kept only for that.

A complaint or a help request ends by asking whether someone from a support service may call,
and when it is safe. Only with a yes is the number kept, encrypted, and given by SMS to the
`assistance` (complaints) or `services` (help requests) focal points the case is routed to, a
woman among them where one is: never to `child_protection`, `conduct` or coordinators. The number
is erased when the case closes or after 30 days, whichever comes first (privacy/retention.py).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.storage.crypto import decrypt, encrypt
from gateway.storage.models import (
    Case,
    CaseKind,
    ContactConsent,
    FocalPoint,
    Gender,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    Role,
    aware,
    utcnow,
)

CONTACT_DAYS = 30
# The flows' answers to "may a support service call you?" that mean yes, and when.
SAFE_TIMES = ("morning", "afternoon", "evening")
# The one role per kind of case that may receive the number.
CONTACT_ROLES = {CaseKind.COMPLAINT: Role.ASSISTANCE, CaseKind.HELP_REQUEST: Role.SERVICES}
ERASED = "erased: contact no longer kept"


def consented(case: Case) -> bool:
    """Tell whether the reporter agreed to be called (the safe time is among the answers)."""
    return (case.answers or {}).get("contact") in SAFE_TIMES


def keep_contact(app: Flask, session: Session, case: Case, *, pseudonym: str, number: str,
                 safe_time: str) -> None:
    """Keep the number, encrypted, for the support service's call (in the session)."""
    if case.kind not in CONTACT_ROLES or safe_time not in SAFE_TIMES or not number:
        return
    if session.scalar(select(ContactConsent.id).where(ContactConsent.case_id == case.id)):
        return
    session.add(ContactConsent(
        case_id=case.id, pseudonym=pseudonym, number=encrypt(number, app), safe_time=safe_time,
        expires_at=utcnow() + timedelta(days=CONTACT_DAYS),
    ))
    # A code from a menu, so that routing knows to reach a support service.
    case.answers = {**(case.answers or {}), "contact": safe_time}


def contact_recipients(case: Case, recipients: list[FocalPoint]) -> list[FocalPoint]:
    """Return who of a case's recipients receives the number: its one role, women first."""
    role = CONTACT_ROLES.get(case.kind)
    if role is None or case.needs_triage:
        return []
    chosen = [fp for fp in recipients if fp.role == role]
    women = [fp for fp in chosen if fp.gender == Gender.FEMALE]
    return women or chosen


def has_number(session: Session, case: Case) -> bool:
    """Tell whether a number is kept, not yet expired, for the case."""
    consent = session.scalar(select(ContactConsent).where(ContactConsent.case_id == case.id))
    return (consent is not None and consent.number is not None
            and aware(consent.expires_at) > utcnow())


def contact_for(app: Flask, session: Session, case: Case) -> tuple[str, str] | None:
    """Return (number, safe time) kept for a case, None once erased, expired or closed."""
    consent = session.scalar(select(ContactConsent).where(ContactConsent.case_id == case.id))
    if (consent is None or consent.number is None or case.closed_at is not None
            or aware(consent.expires_at) <= utcnow()):
        return None
    return decrypt(consent.number, app), consent.safe_time


def erase_contact(session: Session, case_id: int) -> int:
    """Erase the number kept for a case and drop its SMS not yet sent (the caller commits)."""
    now = utcnow()
    erased = session.execute(
        update(ContactConsent)
        .where(ContactConsent.case_id == case_id, ContactConsent.number.is_not(None))
        .values(number=None, erased_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.case_id == case_id,
            OutboxMessage.purpose == OutboxPurpose.CONTACT,
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.RETRYING]),
        )
        .values(status=OutboxStatus.FAILED, last_error=ERASED)
        .execution_options(synchronize_session=False)
    )
    return int(erased or 0)
