"""Incoming SMS: saved (encrypted) before the provider gets its answer, then read by a job.

The number to answer is never kept with a conversation: each incoming message carries it,
encrypted, until its reply is queued; then the words and the number are erased.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Flask
from sqlalchemy.exc import IntegrityError

from gateway.privacy.pseudonyms import caller_pseudonym
from gateway.storage.crypto import encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import InboundMessage

log = logging.getLogger(__name__)

MAX_TEXT = 1600  # ten segments: longer is not an SMS


def provider_key(provider_id: str) -> str:
    """Digest the provider's message id: a repeated callback finds the same row."""
    return hashlib.sha256(f"at-sms:{provider_id}".encode()).hexdigest()


def receive(
    app: Flask, *, provider_id: str, phone: str, text: str, network_code: str | None
) -> int | None:
    """Save one incoming SMS; return its row id, or None when it was saved before.

    phone: the sender's number in E.164 form (privacy.numbers.e164), as every number is kept.
    """
    pseudonym = caller_pseudonym(phone, app)
    with session_scope(app) as session:
        row = InboundMessage(
            provider_key=provider_key(provider_id),
            pseudonym=pseudonym,
            body=encrypt(text[:MAX_TEXT], app),
            reply_to=encrypt(phone, app),
            network_code=(network_code or "")[:16] or None,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None  # the provider sent the same message again: nothing changes
        return row.id


