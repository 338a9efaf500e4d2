"""Delivery reports: what the network said about a message we sent, kept with every status."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.cases.escalation import next_stage
from gateway.delivery.providers.africastalking import FINAL_DELIVERY_STATUSES
from gateway.storage.models import OutboxMessage, OutboxStatus, utcnow

log = logging.getLogger(__name__)

FAILED_DELIVERY = frozenset({"Failed", "Rejected", "Expired"})
# Every provider's words for "it reached the phone": AT's Success, the Android phone's Delivered.
DELIVERED = frozenset({"Success", "Delivered"})
FINAL_STATUSES = frozenset(FINAL_DELIVERY_STATUSES) | DELIVERED


@dataclass(frozen=True)
class Escalate:
    """A focal point was not reached: the case's escalation stage to start now."""

    case_id: int
    stage: int


def record_report(
    session: Session, provider_message_id: str, status: str, reason: str | None
) -> Escalate | None:
    """Record one delivery report (safe to receive twice); say what to escalate, if anything."""
    row = session.scalar(
        select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
    )
    if row is None:
        return None  # not ours (or long gone): the provider is told OK and stops retrying
    if row.delivery_status in FINAL_STATUSES and status not in FINAL_STATUSES:
        return None  # a late intermediate report never undoes a final one
    if row.delivery_status == status and row.failure_reason == reason:
        return None
    row.delivery_status = status
    row.failure_reason = reason
    if status in DELIVERED:
        row.delivered_at = utcnow()
    elif status in FAILED_DELIVERY:
        row.status = OutboxStatus.FAILED
        row.last_error = f"delivery {status}" + (f": {reason}" if reason else "")
    session.commit()
    log.info("delivery report for outbox %s: %s", row.id, status)
    # A focal point not reached: the case's next escalation stage starts at once.
    if status not in FAILED_DELIVERY or not row.focal_point_id or row.case_id is None:
        return None
    stage = next_stage(session, row.case_id)
    return Escalate(row.case_id, stage) if stage is not None else None
