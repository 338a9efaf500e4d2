"""Open SMS conversations: the same flows as USSD, one question per message.

Its state lives in Redis under the sender's pseudonym, encrypted (a free-text answer is the
reporter's own words), and expires when the conversation goes quiet.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask
from redis.exceptions import RedisError

from gateway.errors import GatewayError
from gateway.storage.crypto import decrypt, encrypt
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

CONVERSATION_PREFIX = "sms:conversation"
NOTICE_PREFIX = "sms:notice"


class SmsConversations:
    """Open SMS conversations by pseudonym, in Redis, encrypted, with an idle expiry."""

    def __init__(self, app: Flask) -> None:
        self.app = app
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
