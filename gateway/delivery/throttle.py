"""The send rate of a channel in SMS segments per second, shared by every worker through Redis.

A timeline per channel (GCRA): each send reserves its segments' share of time from the
channel's next free instant. A send whose instant is within HORIZON seconds sleeps until it and
goes; any later one takes a place in a waiting line instead and comes back half a HORIZON
before its turn, so no worker is blocked for long. Urgent sends have their own line, served
first: while one waits, no other send takes the timeline. A send pushed back in the meantime
(urgent ones went first) takes a new place at the end of its line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HORIZON = 1.0  # seconds a send may sleep in its worker until its instant
KEY = "gateway:throttle:{channel}"

# KEYS[1]: the channel's hash (tat: next free instant; uline, line: ends of the waiting lines)
# ARGV: seconds per segment, segments, urgent (1/0), horizon, slot the caller was given (or "")
# Returns {"go", seconds to sleep} or {"wait", seconds until it should come back, its slot}.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1]) * tonumber(ARGV[2])
local urgent = ARGV[3] == '1'
local horizon = tonumber(ARGV[4])
local given = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'tat', 'uline', 'line')
local tat = math.max(tonumber(state[1]) or 0, now)
local uline = tonumber(state[2]) or 0
local line = tonumber(state[3]) or 0
local function fmt(x) return string.format('%.6f', x) end
local function keep(field, value)
  redis.call('HSET', KEYS[1], field, fmt(value))
  local last = math.max(value, tat, uline, line)
  redis.call('PEXPIRE', KEYS[1], math.ceil((last - now + 60) * 1000))
end
local early = horizon / 2
if given and given - early > now then
  return {'wait', fmt(given - early - now), fmt(given)}
end
local free = urgent or uline <= now
if free and tat - now <= horizon then
  keep('tat', tat + cost)
  return {'go', fmt(tat - now)}
end
local slot
if urgent then
  slot = math.max(uline, tat)
  uline = slot + cost
  keep('uline', uline)
else
  slot = math.max(line, tat, uline)
  line = slot + cost
  keep('line', line)
end
return {'wait', fmt(math.max(slot - early - now, 0)), fmt(slot)}
"""


@dataclass(frozen=True)
class Reservation:
    """Either sleep `sleep` seconds and send, or come back in `later` seconds with `slot`."""

    sleep: float = 0.0
    later: float | None = None
    slot: float | None = None


class SendThrottle:
    """A channel's send rate, in segments per second, kept in Redis for every process."""

    def __init__(
        self, connection: Redis, per_second: float, channel: str = "sms", horizon: float = HORIZON
    ) -> None:
        self.connection = connection
        self.per_second = per_second
        self.key = KEY.format(channel=channel)
        self.horizon = horizon
        self._script = connection.register_script(RESERVE)

    def reserve(self, segments: int, urgent: bool, slot: float | None = None) -> Reservation:
        """Take the channel's time for `segments`, or a place in line; urgent sends go first."""
        if self.per_second <= 0:
            return Reservation()
        args = [1.0 / self.per_second, max(segments, 1), int(urgent), self.horizon,
                "" if slot is None else repr(slot)]
        try:
            answer = self._script(keys=[self.key], args=args)
        except RedisError as exc:
            # Without Redis there is no shared pace; an alert late for it would be worse.
            log.warning("send rate not applied, Redis refused: %s", type(exc).__name__)
            return Reservation()
        kind, seconds, *rest = (part.decode() if isinstance(part, bytes) else part
                                for part in answer)
        if kind == "go":
            return Reservation(sleep=float(seconds))
        return Reservation(later=float(seconds), slot=float(rest[0]))


def init_app(app: Flask) -> None:
    """Build the app's SMS throttle from SMS_SEGMENTS_PER_SECOND, shared through its Redis."""
    app.extensions["sms_throttle"] = SendThrottle(
        app.extensions["redis"], float(app.config.get("SMS_SEGMENTS_PER_SECOND", 5))
    )


def get_throttle(app: Flask) -> SendThrottle:
    """Return the app's SMS throttle."""
    return app.extensions["sms_throttle"]
