"""USSD session state in Redis, keyed by the provider's session id, with an idle expiry.

A hop costs two round trips: one script counts the request against its rate limits (the
source address's and the caller's), takes the session's lock and reads its record; one stores
the record (and the caller's language, gateway.channels.reporters) and releases the lock.
Records are encrypted (storage.crypto) in this process before the store script and decrypted
after the read script: Redis only ever holds ciphertexts of a caller's answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from redis import Redis
from redis.lock import Lock

from gateway.errors import GatewayError
from gateway.privacy.limits import Limit
from gateway.storage.crypto import decrypt, encrypt

log = logging.getLogger(__name__)

LOCK_SECONDS = 15  # a hop never holds its session longer: the lock expires by itself
WAIT_SECONDS = 8  # a hop waits this long for another hop of its session, then gives up
POLL_SECONDS = 0.01

# KEYS: lock, record, then the rate counters (the address's, the caller's: each may be absent);
# ARGV: token, lock ms, then a limit and a window in seconds for each counter.
# Returns {1, record} with the lock taken (also when a retried call took it), {0} while
# another hop holds it, {-n, record} over the limit of KEYS[2 + n] (counted in order: a
# request over an earlier limit is not counted against a later one).
_TAKE = """
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], 0, 'EX', ARGV[2 * i - 2], 'NX')
  if redis.call('INCR', KEYS[i]) > tonumber(ARGV[2 * i - 3]) then
    return {2 - i, redis.call('GET', KEYS[2])}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
    or redis.call('GET', KEYS[1]) == ARGV[1] then
  return {1, redis.call('GET', KEYS[2])}
end
return {0}
"""
# KEYS: record, lock, [memo]; ARGV: record (empty: only release), expiry seconds, token,
# [memo value, memo expiry seconds]. The memo is a small value kept beside the session (the
# caller's language, by pseudonym digest) in the same trip.
_PUT = """
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1
"""


class SessionBusy(TimeoutError):
    """Another hop of the session held it for too long."""


@dataclass
class UssdRecord:
    """What is kept between two hops of one USSD session."""

    state: dict[str, Any]
    text: str = ""  # the provider's `text` at the last hop answered
    screen: str = ""  # the screen shown at that hop
    end: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def dumps(self) -> str:
        """Return the record as JSON (without asdict's deep copy of the state)."""
        return json.dumps({"state": self.state, "text": self.text, "screen": self.screen,
                           "end": self.end, "extra": self.extra})


class Hop:
    """One hop holding its session's lock: the record it found, and saving it back."""

    def __init__(self, store: UssdSessions, session_id: str, token: str,
                 record: UssdRecord | None) -> None:
        self.store = store
        self.session_id = session_id
        self.token = token
        self.record = record
        self.released = False

    def save(self, record: UssdRecord, memo: Memo | None = None) -> None:
        """Store the record (refreshing the idle expiry) and release the lock, in one trip.

        memo: a small value to keep beside the session in the same trip (key, value, seconds).
        """
        self.store._put(self.session_id, self.token, self.store._seal(record), memo)
        self.released = True

    def release(self) -> None:
        """Release the lock without saving."""
        if not self.released:
            self.released = True
            self.store._put(self.session_id, self.token, "")


@dataclass(frozen=True)
class Memo:
    """A value kept beside a session when it is saved: its key, value and expiry in seconds."""

    key: str
    value: str
    seconds: int


class OverLimit(Exception):
    """The hop is over a rate limit; carries which one and the session's record (its language)."""

    def __init__(self, record: UssdRecord | None, limit: Limit | None = None) -> None:
        super().__init__("over the rate limit")
        self.record = record
        self.limit = limit


class UssdSessions:
    """Load, save and lock USSD sessions; the raw phone number is never part of them."""

    def __init__(self, redis: Redis, ttl: int, app: Flask | None = None) -> None:
        self.redis = redis
        self.ttl = ttl
        self.app = app  # whose keys encrypt the records; None: the current app's
        self._take = redis.register_script(_TAKE)
        self._put_script = redis.register_script(_PUT)

    @staticmethod
    def _key(session_id: str) -> str:
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:40]
        return f"ussd:session:{digest}"

    def _seal(self, record: UssdRecord) -> str:
        """Return the record encrypted, as stored in Redis."""
        return encrypt(record.dumps(), self.app)

    def _record(self, raw: bytes | str | None) -> UssdRecord | None:
        """Return the stored record decrypted; None when absent or unreadable (replayed then)."""
        if raw is None:
            return None
        try:
            token = raw.decode() if isinstance(raw, bytes) else raw
            return UssdRecord(**json.loads(decrypt(token, self.app)))
        except (ValueError, TypeError, GatewayError) as exc:
            # A record of an older version, or sealed with a key since removed: the hop
            # replays the session from its first input, as for a record lost.
            log.warning("USSD session record unreadable, dropped: %s", type(exc).__name__)
            return None

    def load(self, session_id: str) -> UssdRecord | None:
        """Return the session's record, or None for a new (or expired) session."""
        return self._record(self.redis.get(self._key(session_id)))

    def save(self, session_id: str, record: UssdRecord) -> None:
        """Store the record, refreshing the idle expiry."""
        self.redis.set(self._key(session_id), self._seal(record), ex=self.ttl)

    @contextmanager
    def hop(self, session_id: str, *limits: Limit | None) -> Iterator[Hop]:
        """Take the session's lock and read its record in one trip; release it at the end.

        Hops of one session are serialised, so a repeated hop never advances it twice. Each
        limit given (None: unlimited) is first counted, in order, in the same trip: over one,
        OverLimit is raised (naming it) without the lock, and the later ones are not counted.
        """
        key = self._key(session_id)
        token = uuid.uuid4().hex
        counted = [limit for limit in limits if limit is not None]
        keys = [key + ":lock", key] + [limit.key for limit in counted]
        args: list[Any] = [token, LOCK_SECONDS * 1000]
        for limit in counted:
            args += [limit.count, limit.seconds + 1]
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = self._take(keys=keys, args=args)
            if found[0] < 0:
                over = counted[-found[0] - 1]
                raise OverLimit(self._record(found[1] if len(found) > 1 else None), over)
            if found[0] == 1:
                break
            if time.monotonic() >= deadline:
                raise SessionBusy("USSD session is busy")
            time.sleep(POLL_SECONDS)
            keys = keys[:2]  # counted once, however long the hop waits
            args = args[:2]
        hop = Hop(self, session_id, token, self._record(found[1] if len(found) > 1 else None))
        try:
            yield hop
        finally:
            try:
                hop.release()
            except Exception:  # noqa: BLE001 - an expired lock must not break the answer
                pass

    def _put(self, session_id: str, token: str, raw: str, memo: Memo | None = None) -> None:
        key = self._key(session_id)
        keys = [key, key + ":lock"]
        args: list[Any] = [raw, self.ttl, token]
        if memo is not None:
            keys.append(memo.key)
            args += [memo.value, memo.seconds]
        self._put_script(keys=keys, args=args)

    @contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Serialise hops of one session, so a repeated hop never advances it twice."""
        lock = Lock(
            self.redis, self._key(session_id) + ":lock", timeout=LOCK_SECONDS,
            blocking_timeout=WAIT_SECONDS, sleep=POLL_SECONDS,
        )
        if not lock.acquire():
            raise SessionBusy("USSD session is busy")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - an expired lock must not break the answer
                pass
