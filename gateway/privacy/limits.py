"""Rate limits shared by every web process through Redis: one flooder slows down, nobody else.

Each limit is a counter per key and time window (created with its expiry, then INCR), so a check
costs one round trip and one caller's flood never touches another caller's counter. Keys hold a
digest of the pseudonym or address, never the number itself. When Redis fails the limit lets the
request through: a caller must never lose their line because a counter could not be read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app
from redis.exceptions import RedisError

from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

PREFIX = "gateway:limit"
# One IPv6 subscriber or host is usually given a whole /64: it could hop through its addresses.
IPV6_PREFIX = 64
REFUSED_KEY = "gateway:refused"  # a hash: refusal reason -> count, for monitoring


@dataclass(frozen=True)
class Limit:
    """One counter of a limit in its current window: its key, its limit and window seconds."""

    key: str
    count: int
    seconds: int


def _digest(app: Flask, value: str) -> str:
    # Keyed: a plain hash of a phone number (a focal point command counts by number) or an
    # address is reversed by trying every number; without the secret nobody can.
    key = app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"limit:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def counter(name: str, who: str, limit: tuple[int, int], app: Flask | None = None) -> Limit | None:
    """Return the counter of `who` under a limit (COUNT, SECONDS) now; None when unlimited."""
    count, seconds = limit
    if count <= 0:
        return None
    window = int(time.time() // seconds)
    digest = _digest(app or current_app, who)
    return Limit(f"{PREFIX}:{name}:{digest}:{window}", count, seconds)


def hit(name: str, who: str, limit: tuple[int, int], app: Flask | None = None) -> bool:
    """Count one request of `who` under a limit (COUNT, SECONDS); False once it is over."""
    found = counter(name, who, limit, app)
    if found is None:
        return True
    key, count, seconds = found.key, found.count, found.seconds
    try:
        pipe = get_redis(app).pipeline(transaction=False)
        pipe.set(key, 0, ex=seconds + 1, nx=True)
        pipe.incr(key)
        used = pipe.execute()[1]
    except RedisError as exc:
        log.warning("rate limit %s not checked: %s", name, type(exc).__name__)
        return True
    return int(used) <= count


def within(name: str, who: str, limit: tuple[int, int], app: Flask | None = None) -> bool:
    """Tell whether `who` is still within a limit (COUNT, SECONDS), without counting a request."""
    found = counter(name, who, limit, app)
    if found is None:
        return True
    try:
        used = get_redis(app).get(found.key)
    except RedisError as exc:
        log.warning("rate limit %s not read: %s", name, type(exc).__name__)
        return True
    return int(used or 0) <= found.count


def caller_counter(pseudonym: str, kind: str, app: Flask | None = None) -> Limit | None:
    """Return a caller's rate counter, counted with the hop's session lock in one trip."""
    app = app or current_app
    return counter(f"caller:{kind}", pseudonym, app.config["RATE_PER_CALLER"], app)


def caller_refused(kind: str, app: Flask | None = None) -> None:
    """Count and log a caller refused for going over their rate limit."""
    count_refusal(f"caller_{kind}", app)
    log.warning("caller over the %s rate limit: slowed down", kind)


def address_key(address: str) -> str:
    """Return who a source address counts as: itself for IPv4, its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


def limit_address(address: str, app: Flask | None = None) -> bool:
    """Count one webhook request from a source address (IPv6: its /64); False once over."""
    app = app or current_app
    return hit("address", address_key(address), app.config["RATE_PER_ADDRESS"], app)


def address_counter(address: str, app: Flask | None = None) -> Limit | None:
    """Return a source address's rate counter (IPv6: its /64), counted in a hop's own trip."""
    app = app or current_app
    return counter("address", address_key(address), app.config["RATE_PER_ADDRESS"], app)


def count_refusal(reason: str, app: Flask | None = None) -> None:
    """Add one to the count of requests refused for a reason."""
    try:
        get_redis(app).hincrby(REFUSED_KEY, reason, 1)
    except RedisError as exc:
        log.warning("refusal not counted: %s", type(exc).__name__)


def refusal_counts(app: Flask | None = None) -> dict[str, int]:
    """Return how many requests were refused, by reason."""
    raw = get_redis(app).hgetall(REFUSED_KEY)
    return {key.decode(): int(value) for key, value in raw.items()}
