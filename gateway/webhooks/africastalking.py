"""Africa's Talking callbacks: USSD hops and SMS delivery reports."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy import select

from flows import Screen
from gateway import ussd
from gateway.db import session_scope
from gateway.models import OutboxMessage, OutboxStatus, utcnow
from gateway.providers.africastalking import FINAL_DELIVERY_STATUSES
from gateway.webhooks import check_token

log = logging.getLogger(__name__)

bp = Blueprint("africastalking", __name__, url_prefix="/africastalking")
bp.before_request(check_token)

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
    return _plain("OK\n")

