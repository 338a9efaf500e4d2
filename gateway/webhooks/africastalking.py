"""Africa's Talking callbacks: USSD hops and SMS delivery reports."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from flows import Screen
from gateway import sms, ussd, ussd_events
from gateway.db import session_scope
from gateway.escalation import escalate_soon, next_stage
from gateway.models import OutboxMessage, OutboxStatus, utcnow
from gateway.providers.africastalking import FINAL_DELIVERY_STATUSES
from gateway.webhooks.guard import protect
from workers.enqueue import enqueue_inbound

log = logging.getLogger(__name__)

bp = Blueprint("africastalking", __name__, url_prefix="/africastalking")
protect(bp)  # token, allow-list, body size, rate per address: every route

MAX_FIELD = 2000
FAILED_DELIVERY = {"Failed", "Rejected", "Expired"}


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


@bp.post("/ussd")
def ussd_hop() -> Response:
    """Answer one USSD hop with a CON or END screen."""
    form = request.form
    session_id = form.get("sessionId", "").strip()
    phone = form.get("phoneNumber", "").strip()
    text = form.get("text", "")
    if not session_id or not phone or len(session_id) > 200 or len(text) > MAX_FIELD:
        return _plain("Bad request\n", 400)
    screen: Screen = ussd.answer_hop(session_id=session_id, phone=phone, text=text)
    return _plain(screen.ussd())


@bp.post("/ussd-events")
def ussd_session_ended() -> Response:
    """Save a report whose USSD session the network cut off; `input` is never read."""
    form = request.form
    session_id = form.get("sessionId", "").strip()
    phone = form.get("phoneNumber", "").strip()
    status = form.get("status", "").strip()[:32]
    if not session_id or not phone or not status or len(session_id) > 200 or len(phone) > 40:
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
    phone = form.get("from", "").strip()
    text = form.get("text", "")
    if not provider_id or not phone or len(provider_id) > 200 or len(phone) > 32:
        return _plain("Bad request\n", 400)
    try:
        message_id = sms.receive(
            provider_id=provider_id, phone=phone, text=text,
            network_code=form.get("networkCode", "").strip() or None,
        )
    except SQLAlchemyError as exc:
        # Not saved: a non-2xx answer makes the provider send it again later.
        log.error("incoming SMS not saved: %s", type(exc).__name__)
        return _plain("Try again later\n", 503)
    if message_id is not None:
        enqueue_inbound(message_id)  # if Redis refuses, the sweep queues it within a minute
    return _plain("OK\n")


@bp.post("/delivery-reports")
def delivery_report() -> Response:
    """Record what the network said about a message we sent."""
    message_id = request.form.get("id", "").strip()
    status = request.form.get("status", "").strip()[:32]
    if not message_id or not status or len(message_id) > 100:
        return _plain("Bad request\n", 400)
    reason = request.form.get("failureReason", "").strip()[:100] or None
    with session_scope() as session:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.provider_message_id == message_id)
        )
        if row is None:
            # Not ours (or long gone): acknowledge so the provider stops retrying.
            return _plain("OK\n")
        if row.delivery_status in FINAL_DELIVERY_STATUSES and status not in FINAL_DELIVERY_STATUSES:
            return _plain("OK\n")  # a late intermediate report never undoes a final one
        if row.delivery_status == status and row.failure_reason == reason:
            return _plain("OK\n")
        row.delivery_status = status
        row.failure_reason = reason
        if status == "Success":
            row.delivered_at = utcnow()
        elif status in FAILED_DELIVERY:
            row.status = OutboxStatus.FAILED
            row.last_error = f"delivery {status}" + (f": {reason}" if reason else "")
        session.commit()
        log.info("delivery report for outbox %s: %s", row.id, status)
        # A focal point not reached: the case's next escalation stage starts at once.
        failed_case = row.case_id if status in FAILED_DELIVERY and row.focal_point_id else None
        stage = next_stage(session, failed_case) if failed_case else None
    if failed_case and stage is not None:
        escalate_soon(failed_case, stage)
    return _plain("OK\n")

