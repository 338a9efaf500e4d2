"""Messages to reporters: number and words kept encrypted in the outbox until the send is final."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.gsm import fold_to_gsm7
from gateway.conversation import get_engine
from gateway.crypto import encrypt, register_encrypted
from gateway.models import OutboxMessage, OutboxStatus
from workers.enqueue import enqueue_send

# Erased once the message is sent, refused or not sent (workers/sending.py).
register_encrypted("outbox_messages", "recipient")
register_encrypted("outbox_messages", "body")


def fold_for(text: str, language: str, app: Flask | None = None) -> str:
    """Fold text to GSM-7 where its language allows it (locales/languages.toml gsm7_fold)."""
    return fold_to_gsm7(text) if language in get_engine(app).gsm_fold_languages else text


def queue_reporter_message(
    session: Session,
    *,
    number: str,
    text: str,
    language: str,
    purpose: str,
    dedupe_key: str,
    case_id: int | None,
    urgent: bool = False,
) -> OutboxMessage | None:
    """Add an SMS to a reporter to the session, encrypted; None if dedupe_key is taken.

    The row is flushed (it has its id); the caller commits, then calls enqueue_reporter_messages.
    Two callers racing on one key: the unique constraint fails the second commit.
    """
    taken = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if taken is not None:
        return None
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    row = OutboxMessage(
        case_id=case_id,
        focal_point_id=None,
        recipient=encrypt(number, app),
        body=encrypt(fold_for(text, language, app), app),
        dedupe_key=dedupe_key,
        purpose=purpose,
        urgent=urgent,
        status=OutboxStatus.QUEUED,
    )
    session.add(row)
    session.flush()
    return row


def enqueue_reporter_messages(
    rows: Iterable[OutboxMessage | None], app: Flask | None = None
) -> int:
    """Queue the sending of committed reporter messages; return how many Redis took.

    A row Redis refuses stays QUEUED and the sweep queues it again.
    """
    return sum(
        1 for row in rows if row is not None and enqueue_send(row.id, row.urgent, app)
    )
