"""SMS Gateway for Android's webhook: signed events from the phone that relays our SMS.

One URL takes every event (`sms:received`, `sms:sent`, `sms:delivered`, `sms:failed`). The guard
of every webhook stands in front (allow-list, body size, rate per address), with the phone's
signature in place of the URL token: X-Signature is the hex HMAC-SHA256, keyed with
SMSGATE_SIGNING_KEY, of the raw body followed by X-Timestamp (Unix seconds).

The phone retries any non-2xx answer for a long time: a 2xx goes only once the event is saved.
A received SMS enters the same intake as Africa's Talking's, its sender put in E.164 form here.
Repeated events are found by the envelope's `id` (the payload's `messageId` of a received SMS
is derived from its words, and not unique), durably: the intake's unique message key, and the
outbox row's delivery state, which a repeated report does not change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.channels.sms import intake as sms
from gateway.delivery.receipts import record_report
from gateway.privacy.numbers import e164
from gateway.storage.db import session_scope
from gateway.storage.redis import get_redis
from gateway.web.guard import protect
from workers.enqueue import enqueue_inbound, escalate_now

log = logging.getLogger(__name__)

MAX_SKEW = 300  # seconds a signed timestamp may be off: an old signed body is not replayed
MAX_ID = 100
RECEIVED = "sms:received"
# Delivery events, in the words receipts.record_report keeps.
DELIVERY_STATUSES = {"sms:sent": "Sent", "sms:delivered": "Delivered", "sms:failed": "Failed"}
EVENTS = (RECEIVED, *DELIVERY_STATUSES)
# Counts and times of the last events, for `gateway smsgate status`: no number, no text.
STATS_KEY = "smsgate:events"
SEEN_PREFIX = "smsgate:seen:"  # an envelope already counted (the count only: not the dedup)
SEEN_TTL = 7 * 24 * 3600


def signature_valid() -> bool:
    """Tell whether the request is signed by the phone with our key, and recently."""
    key = current_app.config.get("SMSGATE_SIGNING_KEY")
    if not key:
        return False  # no key, no way to tell the phone from anyone: never accept unsigned
    timestamp = request.headers.get("X-Timestamp", "").strip()
    given = request.headers.get("X-Signature", "").strip().lower()
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12 or not given:
        return False
    if abs(time.time() - int(timestamp)) > MAX_SKEW:
        return False
    expected = hmac.new(
        key.encode("utf-8"), request.get_data(cache=True) + timestamp.encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


bp = Blueprint("smsgate", __name__, url_prefix="/smsgate")
protect(bp, signature_valid)  # allow-list, body size, signature, rate per address


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


def _clean(text: str) -> str:
    """Drop what JSON may carry and no SMS does: NUL (PostgreSQL refuses it), lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, limit: int) -> str:
    return _clean(value).strip()[:limit] if isinstance(value, str) else ""


@bp.post("/webhook")
def webhook() -> Response:
    """Save one event from the phone, then answer 200 (the phone retries anything else)."""
    envelope = request.get_json(force=True, silent=True)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        return _plain("Bad request\n", 400)
    event_id = _text(envelope.get("id"), MAX_ID + 1)
    event = _text(envelope.get("event"), 40)
    if not event_id or len(event_id) > MAX_ID or not event:
        return _plain("Bad request\n", 400)
    payload: dict[str, Any] = envelope["payload"]
    try:
        if event == RECEIVED:
            answer = _received(event_id, payload)
        elif event in DELIVERY_STATUSES:
            answer = _delivery(event, payload)
        else:
            answer = _plain("OK\n")  # an event we did not ask for (ping, MMS): nothing to do
    except SQLAlchemyError as exc:
        # Not saved: a non-2xx answer makes the phone send it again later.
        log.error("SMS gateway event not saved: %s", type(exc).__name__)
        return _plain("Try again later\n", 503)
    if answer.status_code == 200:
        count_event(current_app, event_id, event)
    return answer


def _received(event_id: str, payload: dict[str, Any]) -> Response:
    """Save an incoming SMS as Africa's Talking's are saved, keyed by the envelope's id."""
    # `phoneNumber` is the sender in app versions before `sender` was added.
    phone = e164(_text(payload.get("sender") or payload.get("phoneNumber"), 64))
    text = payload.get("message")
    if not isinstance(text, str):
        return _plain("Bad request\n", 400)
    text = _clean(text)
    if phone is None:
        # A sender name ("Orange") or a national number: no reporter to pseudonymise or answer.
        # Taken (200): the phone would post it again and again, and nothing would change.
        log.warning("incoming SMS from a sender not in E.164 form: dropped")
        return _plain("OK\n")
    # Namespaced: an envelope id can never be taken for an Africa's Talking message id.
    message_id = sms.receive(current_app, provider_id=f"smsgate:{event_id}", phone=phone,
                             text=text, network_code=None)
    if message_id is not None:
        # If Redis refuses, the sweep queues it within a minute.
        enqueue_inbound(current_app, message_id)
    return _plain("OK\n")


def _delivery(event: str, payload: dict[str, Any]) -> Response:
    """Record what the phone said of a message we sent (found by the id we gave it)."""
    message_id = _text(payload.get("messageId"), MAX_ID + 1)
    if not message_id or len(message_id) > MAX_ID:
        return _plain("Bad request\n", 400)
    reason = (_text(payload.get("reason"), 100) or None) if event == "sms:failed" else None
    with session_scope() as session:
        escalate = record_report(session, message_id, DELIVERY_STATUSES[event], reason)
    if escalate is not None:
        escalate_now(current_app, escalate.case_id, escalate.stage)
    return _plain("OK\n")


def count_event(app: Flask, event_id: str, event: str) -> None:
    """Count a saved event once, with the time of the last of its kind (best effort)."""
    kind = event if event in EVENTS else "other"
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:32]
    try:
        redis = get_redis(app)
        if not redis.set(SEEN_PREFIX + digest, 1, nx=True, ex=SEEN_TTL):
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with redis.pipeline() as pipe:
            pipe.hincrby(STATS_KEY, f"{kind}:count", 1)
            pipe.hset(STATS_KEY, f"{kind}:last", now)
            pipe.execute()
    except RedisError as exc:
        log.warning("SMS gateway event not counted: %s", type(exc).__name__)


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def event_counts(app: Flask) -> dict[str, tuple[int, str | None]]:
    """Return, by event type, how many were received and when the last one was."""
    raw = get_redis(app).hgetall(STATS_KEY)
    fields = {_str(key): _str(value) for key, value in raw.items()}
    kinds = sorted({name.rsplit(":", 1)[0] for name in fields} | set(EVENTS))
    return {
        kind: (int(fields.get(f"{kind}:count", 0)), fields.get(f"{kind}:last"))
        for kind in kinds
    }
