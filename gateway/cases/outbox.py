"""Messages to reporters: number and words kept encrypted in the outbox until the send is final."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.gsm import fold_to_gsm7
from gateway.conversation import get_engine
from gateway.storage.crypto import encrypt
from gateway.storage.models import OutboxMessage, OutboxPurpose, OutboxStatus


def fold_for(app: Flask, text: str, language: str) -> str:
    """Fold text to GSM-7 where its language allows it (locales/languages.toml gsm7_fold)."""
    return fold_to_gsm7(text) if language in get_engine(app).gsm_fold_languages else text


def queue_reporter_message(
    app: Flask,
    session: Session,
    *,
    number: str,
    text: str,
    language: str,
    purpose: OutboxPurpose,
    dedupe_key: str,
    case_id: int | None,
    urgent: bool = False,
) -> OutboxMessage | None:
    """Add an SMS to a reporter to the session, encrypted; None if dedupe_key is taken.

    The row is flushed (it has its id); the caller commits, then queues its sending
    (workers.enqueue). Two callers racing on one key: the unique constraint fails the second
    commit. The number and words are erased once the send is final (delivery/send.py).
    """
    taken = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if taken is not None:
        return None
    row = OutboxMessage(
        case_id=case_id,
        focal_point_id=None,
        recipient=encrypt(number, app),
        body=encrypt(fold_for(app, text, language), app),
        dedupe_key=dedupe_key,
        purpose=purpose,
        urgent=urgent,
        status=OutboxStatus.QUEUED,
    )
    session.add(row)
    session.flush()
    return row
