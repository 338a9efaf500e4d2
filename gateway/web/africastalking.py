"""Africa's Talking callbacks: USSD hops and SMS delivery reports.

Every number is put in E.164 form here, at the door (privacy.numbers.e164): a "+" posted
unescaped arrives as a space, and the same caller must be the same caller however it came.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from flows import Screen
from gateway.channels.sms import intake as sms
from gateway.channels.ussd import events as ussd_events
from gateway.channels.ussd import hop as ussd
from gateway.conversation import get_engine
from gateway.delivery.receipts import record_report
from gateway.privacy.numbers import e164
from gateway.storage.db import session_scope
from gateway.web.guard import (
    address_refused,
    count_address,
    counts_address_itself,
    deferred_address_limit,
    protect,
)
from workers.enqueue import enqueue_inbound, escalate_now

log = logging.getLogger(__name__)

bp = Blueprint("africastalking", __name__, url_prefix="/africastalking")
protect(bp)  # token, allow-list, body size, rate per address: every route

MAX_FIELD = 2000


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


@bp.post("/ussd")
@counts_address_itself  # with the session's lock, in the hop's first trip to Redis
def ussd_hop() -> Response:
    """Answer one USSD hop with a CON or END screen."""
    form = request.form
    session_id = form.get("sessionId", "").strip()
    raw_phone = form.get("phoneNumber", "")
    text = form.get("text", "")
    if not session_id or not raw_phone.strip() or len(session_id) > 200 or len(text) > MAX_FIELD:
        return count_address() or _plain("Bad request\n", 400)
    phone = e164(raw_phone)
    if phone is None:
        # Never guessed at (nor logged): the caller gets a proper END screen, nothing is kept.
        log.warning("USSD hop from a number not in E.164 form: refused")
        return count_address() or _plain(get_engine().failure(None).ussd())
    try:
        screen: Screen = ussd.answer_hop(session_id=session_id, phone=phone, text=text,
                                         address_limit=deferred_address_limit())
    except ussd.AddressOverLimit:
        return address_refused()
    return _plain(screen.ussd())


@bp.post("/ussd-events")
def ussd_session_ended() -> Response:
    """Save a report whose USSD session the network cut off; `input` is never read."""
    form = request.form
    session_id = form.get("sessionId", "").strip()
    phone = e164(form.get("phoneNumber", ""))
    status = form.get("status", "").strip()[:32]
    if not session_id or not phone or not status or len(session_id) > 200:
        return _plain("Bad request\n", 400)
    try:
        ussd_events.session_ended(session_id=session_id, phone=phone, status=status)
    except Exception:  # noqa: BLE001 - the last line of defence: the provider gets its 200
        log.exception("USSD session end not handled")
    return _plain("OK\n")


@bp.post("/sms")
def incoming_sms() -> Response:
    """Save an incoming SMS before answering, then let a job read it."""
    form = request.form
    provider_id = form.get("id", "").strip()
    phone = e164(form.get("from", ""))
    text = form.get("text", "")
    if not provider_id or len(provider_id) > 200:
        return _plain("Bad request\n", 400)
    if phone is None:
        # A sender name ("Orange") or a national number: no reporter to pseudonymise or answer.
        log.warning("incoming SMS from a sender not in E.164 form: refused")
        return _plain("Bad request\n", 400)
    try:
        message_id = sms.receive(
            current_app,
            provider_id=provider_id, phone=phone, text=text,
            network_code=form.get("networkCode", "").strip() or None,
        )
    except SQLAlchemyError as exc:
        # Not saved: a non-2xx answer makes the provider send it again later.
        log.error("incoming SMS not saved: %s", type(exc).__name__)
        return _plain("Try again later\n", 503)
    if message_id is not None:
        # If Redis refuses, the sweep queues it within a minute.
        enqueue_inbound(current_app, message_id)
    return _plain("OK\n")


@bp.post("/delivery-reports")
def delivery_report() -> Response:
    """Record what the network said about a message we sent (by its id: `phoneNumber` unread)."""
    message_id = request.form.get("id", "").strip()
    status = request.form.get("status", "").strip()[:32]
    if not message_id or not status or len(message_id) > 100:
        return _plain("Bad request\n", 400)
    reason = request.form.get("failureReason", "").strip()[:100] or None
    with session_scope() as session:
        escalate = record_report(session, message_id, status, reason)
    if escalate is not None:
        escalate_now(current_app, escalate.case_id, escalate.stage)
    return _plain("OK\n")
