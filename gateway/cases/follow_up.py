"""What a reporter may learn of their report, and the one SMS they may ask for.

A reference answers only a neutral state (received, being followed up, closed), never a detail.
The SMS a reporter asked for says nothing of the topic nor of any organisation, so that a person
who reads their phone learns nothing; their number is kept encrypted only until it is sent, and
at most 30 days.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flows.digits import only_digits
from flows.i18n import N_
from gateway.cases.outbox import queue_reporter_message
from gateway.cases.references import is_valid
from gateway.conversation import get_catalogs
from gateway.privacy.limits import hit
from gateway.storage.crypto import decrypt, encrypt
from gateway.storage.models import (
    Callback,
    Case,
    CaseEvent,
    CaseEventKind,
    ContactConsent,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    aware,
    utcnow,
)

log = logging.getLogger(__name__)

CALLBACK_DAYS = 30

STATUS_TEXTS = {
    # TRANSLATORS: the answer to "what happened to my report?": neutral, no detail.
    "received": N_("Your report %(reference)s was received."),
    "followed_up": N_("Your report %(reference)s is being followed up."),
    "closed": N_("Your report %(reference)s is closed."),
    "typo": N_("This number has a typing mistake. Check it and try again."),
    "unknown": N_("No report has this number. Check it and try again."),
    "slow_down": N_("Too many tries. Please try again later."),
}
# TRANSLATORS: the one SMS a reporter asked for. Read by anyone who picks up their phone: no
# topic, no organisation, nothing that says what was reported.
FOLLOWED_UP_SMS = N_("Hello. Your request %(reference)s is being followed up. Thank you.")


def lookup_status(app: Flask, session: Session, pseudonym: str, typed: str) -> tuple[str, str]:
    """Return (state key of STATUS_TEXTS, the reference as typed); guessing is slowed down."""
    reference = only_digits(typed)
    # Every try counts, found or not: a guesser is slowed, a reporter asks once or twice.
    if not hit("status", pseudonym, app.config["STATUS_TRIES"], app):
        log.warning("status lookups over the limit: slowed down")
        return "slow_down", reference
    if not is_valid(reference):
        # A wrong check digit (or length) is a typing mistake, told apart from a wrong number.
        return "typo", reference
    case = session.scalar(select(Case).where(Case.reference == reference))
    if case is None:
        return "unknown", reference
    return case.follow_up, reference


def request_callback(
    app: Flask, session: Session, case: Case, *, pseudonym: str, number: str, language: str
) -> None:
    """Keep the number, encrypted, for the one SMS the reporter asked for (in the session)."""
    if session.scalar(select(Callback.id).where(Callback.case_id == case.id)) is not None:
        return
    session.add(
        Callback(
            case_id=case.id,
            pseudonym=pseudonym,
            number=encrypt(number, app),
            language=language,
            expires_at=utcnow() + timedelta(days=CALLBACK_DAYS),
        )
    )
    case.callback_requested = True


@dataclass(frozen=True)
class FollowedUp:
    """What marking a case followed up did: whether it changed, and the SMS to send after commit."""

    changed: bool
    outbox_ids: tuple[int, ...] = ()


def mark_followed_up(app: Flask, session: Session, case: Case, *, by: str) -> FollowedUp:
    """Record that someone follows the case up; queue the reporter's SMS if they asked for it.

    The caller commits, then queues the sends (workers.enqueue). Acknowledging twice changes
    nothing and sends nothing more.
    """
    if case.acknowledged_at is not None:
        return FollowedUp(changed=False)
    case.acknowledged_at = utcnow()
    case.events.append(CaseEvent(kind=CaseEventKind.ACKNOWLEDGED, detail={"by": by}))
    callback = session.scalar(
        select(Callback).where(Callback.case_id == case.id, Callback.number.is_not(None))
    )
    if callback is not None and aware(callback.expires_at) > utcnow():
        text = get_catalogs(app).gettext(
            callback.language, FOLLOWED_UP_SMS, reference=case.reference
        )
        message = queue_reporter_message(
            app,
            session,
            number=decrypt(callback.number or "", app),
            text=text,
            language=callback.language,
            purpose=OutboxPurpose.REPORTER_ACK,
            dedupe_key=f"ack-{case.id}",
            case_id=case.id,
        )
        # The number now lives only in the outbox row, which erases it once sent.
        callback.number = None
        callback.erased_at = callback.sent_at = utcnow()
        if message is not None:
            message.pseudonym = callback.pseudonym
            return FollowedUp(changed=True, outbox_ids=(message.id,))
    return FollowedUp(changed=True)


def erase_for(session: Session, pseudonym: str) -> int:
    """STOP: erase every number kept for a pseudonym and drop their pending messages."""
    now = utcnow()
    erased = session.execute(
        update(Callback)
        .where(Callback.pseudonym == pseudonym, Callback.number.is_not(None))
        .values(number=None, erased_at=now)
    ).rowcount
    # The number a reporter agreed to be called on goes too: STOP withdraws that consent.
    erased += session.execute(
        update(ContactConsent)
        .where(ContactConsent.pseudonym == pseudonym, ContactConsent.number.is_not(None))
        .values(number=None, erased_at=now)
    ).rowcount
    erased += session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.pseudonym == pseudonym,
            OutboxMessage.status.in_(
                [OutboxStatus.QUEUED, OutboxStatus.RETRYING, OutboxStatus.SENDING]
            ),
        )
        .values(
            recipient=None, body=None, status=OutboxStatus.FAILED, last_error="erased: STOP"
        )
    ).rowcount
    return int(erased or 0)
