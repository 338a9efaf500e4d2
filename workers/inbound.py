"""The job that reads one incoming SMS (channels/sms/reader.py), then sends and routes."""

from __future__ import annotations

from flask import Flask, current_app
from redis.lock import Lock

from gateway.channels.sms.reader import read
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import InboundMessage, InboundStatus, utcnow
from workers.enqueue import enqueue_route, enqueue_sends

LOCK_SECONDS = 60


def process_inbound(message_id: int) -> None:
    """Read one incoming SMS and answer it; safe to run twice."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    redis = app.extensions["redis"]
    lock = Lock(redis, f"sms:lock:{message_id}", timeout=LOCK_SECONDS, blocking_timeout=30)
    with session_scope(app) as session:
        message = session.get(InboundMessage, message_id)
        if message is None or message.status != InboundStatus.RECEIVED:
            return
        # One sender's messages are read one at a time, in order: a conversation never forks.
        sender_lock = Lock(redis, f"sms:sender:{message.pseudonym[:40]}", timeout=LOCK_SECONDS,
                           blocking_timeout=30)
        with lock, sender_lock:
            session.refresh(message)
            if message.status != InboundStatus.RECEIVED:
                return
            outcome = read(app, session, message, decrypt(message.body or "", app),
                           decrypt(message.reply_to or "", app))
            # The words and the number are needed no longer: erase them with the outcome.
            message.body = message.reply_to = None
            message.status = InboundStatus.PROCESSED
            message.processed_at = utcnow()
            session.commit()
    for filed in outcome.filed:
        enqueue_route(app, filed.case_id, filed.urgent)
    enqueue_sends(app, ((outbox_id, False) for outbox_id in outcome.reply_ids + outcome.to_send))
