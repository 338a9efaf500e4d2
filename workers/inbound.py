"""The job that reads one incoming SMS (channels/sms/reader.py), then sends and routes.

A message whose reading fails every time (a poison message, or a bug it alone meets) is given
up after MAX_ATTEMPTS runs: marked failed, its text and number erased like a read one, counted
in /metrics, and never queued again by the sweep. Runs are counted in the database before the
reading starts, so a run cut off by a killed worker counts too, and no Redis restart or expiry
resets the count.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app
from redis.lock import Lock
from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.channels.sms.reader import read
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import InboundMessage, InboundStatus, utcnow
from workers.enqueue import enqueue_route, enqueue_sends

log = logging.getLogger(__name__)

LOCK_SECONDS = 60
MAX_ATTEMPTS = 3


def give_up(session: Session, message_id: int) -> bool:
    """Mark a still unread message failed and erase its text and number; False if it was read."""
    changed = session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.status == InboundStatus.RECEIVED)
        .values(status=InboundStatus.FAILED, body=None, reply_to=None, processed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return changed == 1


def process_inbound(message_id: int) -> None:
    """Read one incoming SMS and answer it; safe to run twice; given up after MAX_ATTEMPTS."""
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
            if message.attempts >= MAX_ATTEMPTS:
                # Its last runs were cut off (a killed worker) before they could give up.
                if give_up(session, message_id):
                    log.error("SMS %s given up after %d cut-off runs: erased", message_id,
                              MAX_ATTEMPTS)
                return
            message.attempts += 1
            attempt = message.attempts
            session.commit()
            try:
                outcome = read(app, session, message, decrypt(message.body or "", app),
                               decrypt(message.reply_to or "", app))
                # The words and the number are needed no longer: erase them with the outcome.
                message.body = message.reply_to = None
                message.status = InboundStatus.PROCESSED
                message.processed_at = utcnow()
                session.commit()
            except Exception as exc:
                session.rollback()
                # The class name only: a database error's message may quote the number.
                if attempt < MAX_ATTEMPTS:
                    log.warning("SMS %s not read (run %d of %d): %s", message_id, attempt,
                                MAX_ATTEMPTS, type(exc).__name__)
                    raise
                if give_up(session, message_id):
                    log.error("SMS %s given up after %d failed runs (%s): erased", message_id,
                              attempt, type(exc).__name__)
                return
    for filed in outcome.filed:
        enqueue_route(app, filed.case_id, filed.urgent)
    enqueue_sends(app, ((outbox_id, False) for outbox_id in outcome.reply_ids + outcome.to_send))
