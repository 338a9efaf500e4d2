"""Incoming SMS: saved (encrypted) before the provider gets its answer, then processed by a job.

A conversation by SMS is the same flow as on USSD, one question per message. Its state lives in
Redis under the sender's pseudonym, encrypted (a free-text answer is the reporter's own words),
and expires when the conversation goes quiet. The number to answer is never kept with it: each
incoming message carries it, encrypted, until its reply is queued.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from gateway.crypto import decrypt, encrypt, register_encrypted
from gateway.db import session_scope
from gateway.errors import GatewayError
from gateway.models import InboundMessage
from gateway.privacy import caller_pseudonym
from gateway.redis import get_redis

log = logging.getLogger(__name__)

register_encrypted("inbound_messages", "body")
register_encrypted("inbound_messages", "reply_to")
register_encrypted("cases", "details")

MAX_TEXT = 1600  # ten segments: longer is not an SMS
CONVERSATION_PREFIX = "sms:conversation"
NOTICE_PREFIX = "sms:notice"


def provider_key(provider_id: str) -> str:
    """Digest the provider's message id: a repeated callback finds the same row."""
    return hashlib.sha256(f"at-sms:{provider_id}".encode()).hexdigest()


def receive(*, provider_id: str, phone: str, text: str, network_code: str | None) -> int | None:
    """Save one incoming SMS; return its row id, or None when it was saved before."""
    pseudonym = caller_pseudonym(phone)
    with session_scope() as session:
        row = InboundMessage(
            provider_key=provider_key(provider_id),
            pseudonym=pseudonym,
            body=encrypt(text[:MAX_TEXT]),
            reply_to=encrypt(phone),
            network_code=(network_code or "")[:16] or None,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None  # the provider sent the same message again: nothing changes
        return row.id


class SmsConversations:
    """Open SMS conversations by pseudonym, in Redis, encrypted, with an idle expiry."""

    def __init__(self, app: Flask | None = None) -> None:
        self.app = app or current_app
        self.ttl = int(self.app.config.get("SMS_CONVERSATION_TTL", 3600))

    @staticmethod
    def _key(pseudonym: str) -> str:
        return f"{CONVERSATION_PREFIX}:{pseudonym[:40]}"

    def load(self, pseudonym: str) -> dict[str, Any] | None:
        """Return the open conversation's engine state, or None."""
        raw = get_redis(self.app).get(self._key(pseudonym))
        if raw is None:
            return None
        try:
            return json.loads(decrypt(raw.decode(), self.app))
        except (ValueError, UnicodeDecodeError, GatewayError) as exc:
            log.warning("SMS conversation unreadable, dropped: %s", type(exc).__name__)
            return None

    def save(self, pseudonym: str, state: dict[str, Any]) -> None:
        """Keep the conversation open for another reply, refreshing its expiry."""
        token = encrypt(json.dumps(state), self.app)
        get_redis(self.app).set(self._key(pseudonym), token, ex=self.ttl)

    def close(self, pseudonym: str) -> None:
        """Forget the conversation."""
        get_redis(self.app).delete(self._key(pseudonym))

    def first_notice_today(self, pseudonym: str) -> bool:
        """Tell whether the how-to-use notice may go to this sender now (once a day at most)."""
        key = f"{NOTICE_PREFIX}:{pseudonym[:40]}"
        try:
            return bool(get_redis(self.app).set(key, 1, ex=86400, nx=True))
        except RedisError:
            return False  # when in doubt, stay silent: never a loop of replies
