"""USSD session state in Redis, keyed by the provider's session id, with an idle expiry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from redis.lock import Lock


@dataclass
class UssdRecord:
    """What is kept between two hops of one USSD session."""

    state: dict[str, Any]
    text: str = ""  # the provider's `text` at the last hop answered
    screen: str = ""  # the screen shown at that hop
    end: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class UssdSessions:
    """Load, save and lock USSD sessions; the raw phone number is never part of them."""

    def __init__(self, redis: Redis, ttl: int) -> None:
        self.redis = redis
        self.ttl = ttl

    @staticmethod
    def _key(session_id: str) -> str:
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:40]
        return f"ussd:session:{digest}"

    def load(self, session_id: str) -> UssdRecord | None:
        """Return the session's record, or None for a new (or expired) session."""
        raw = self.redis.get(self._key(session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return UssdRecord(**data)

    def save(self, session_id: str, record: UssdRecord) -> None:
        """Store the record, refreshing the idle expiry."""
        self.redis.set(self._key(session_id), json.dumps(asdict(record)), ex=self.ttl)

    @contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Serialise hops of one session, so a repeated hop never advances it twice."""
        lock = Lock(
            self.redis, self._key(session_id) + ":lock", timeout=15, blocking_timeout=8,
            sleep=0.01,
        )
        if not lock.acquire():
            raise TimeoutError("USSD session is busy")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - an expired lock must not break the answer
                pass
