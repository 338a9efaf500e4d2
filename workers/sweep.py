"""Maintenance jobs: the sweep queues again what the queues lost; the purge applies retention."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select, update

from gateway.cases.spool import replay as replay_spool
from gateway.delivery.failures import count_send_failure
from gateway.privacy.retention import purge as apply_retention
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    InboundMessage,
    InboundStatus,
    OutboxMessage,
    OutboxStatus,
    aware,
    utcnow,
)
from workers.enqueue import (
    enqueue_inbound,
    enqueue_route,
    enqueue_send,
    inbound_job_id,
    live_jobs,
    route_job_id,
    send_job_id,
)

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "interrupted while sending: sent again"
BATCH = 500  # rows looked at per kind and per sweep; the next sweep takes the rest
# What the sweep's one line calls each count.
SWEPT = {
    "cases": "unrouted case(s)",
    "queued": "queued SMS",
    "retrying": "SMS due for a retry",
    "interrupted": "interrupted SMS",
    "sms": "unread incoming SMS",
}


def _route_new_cases(app: Flask, older_than: datetime) -> int:
    """Queue routing for cases still NEW whose routing job is gone."""
    with session_scope(app) as session:
        rows = session.execute(
            select(Case.id, Case.urgent)
            .where(Case.status == CaseStatus.NEW, Case.created_at < older_than)
            .order_by(Case.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (route_job_id(case_id) for case_id, _ in rows))
    count = 0
    for case_id, urgent in rows:
        if route_job_id(case_id) not in live and enqueue_route(app, case_id, urgent is True):
            count += 1
    return count


def _resend_queued(app: Flask, older_than: datetime) -> int:
    """Queue again the QUEUED rows whose send job is gone."""
    with session_scope(app) as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.urgent)
            .where(OutboxMessage.status == OutboxStatus.QUEUED,
                   OutboxMessage.updated_at < older_than)
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (send_job_id(row_id) for row_id, _ in rows))
    count = 0
    for row_id, urgent in rows:
        if send_job_id(row_id) not in live and enqueue_send(app, row_id, urgent):
            count += 1
    return count


def _resend_retrying(app: Flask, now: datetime) -> int:
    """Queue again the RETRYING rows whose retry is due and whose retry job is gone."""
    delays: list[float] = list(app.config["SEND_RETRY_DELAYS"]) or [0.0]
    with session_scope(app) as session:
        rows = session.execute(
            select(
                OutboxMessage.id, OutboxMessage.urgent, OutboxMessage.attempts,
                OutboxMessage.updated_at,
            )
            .where(OutboxMessage.status == OutboxStatus.RETRYING,
                   OutboxMessage.updated_at < now - timedelta(seconds=min(delays)))
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
    due = []
    for row_id, urgent, attempts, updated_at in rows:
        delay = delays[min(max(attempts - 1, 0), len(delays) - 1)]
        if aware(updated_at) + timedelta(seconds=delay) < now:
            due.append((row_id, urgent, attempts))
    live = live_jobs(app, (send_job_id(row_id, attempts) for row_id, _, attempts in due))
    count = 0
    for row_id, urgent, attempts in due:
        if send_job_id(row_id, attempts) in live:
            continue
        if enqueue_send(app, row_id, urgent, attempt=attempts):
            count += 1
    return count


def _resend_interrupted(app: Flask, older_than: datetime) -> int:
    """Send again the rows left SENDING by a send cut off midway (a killed worker).

    A live send never outlasts its job's timeout, so a row still SENDING long after that was
    cut off. The provider may have taken it just before the cut: only then can a second copy
    go out, and sending again is better than an alert that never arrives.
    """
    with session_scope(app) as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.case_id, OutboxMessage.focal_point_id,
                   OutboxMessage.urgent, OutboxMessage.attempts)
            .where(OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.updated_at < older_than)
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
        resend = []
        for row_id, case_id, focal_point_id, urgent, attempts in rows:
            changed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id,
                       OutboxMessage.status == OutboxStatus.SENDING,
                       OutboxMessage.updated_at < older_than)
                .values(status=OutboxStatus.RETRYING, last_error=INTERRUPTED_ERROR)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != 1:
                continue
            if case_id is not None:
                detail = {"outbox_id": row_id, "focal_point_id": focal_point_id}
                session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.SMS_INTERRUPTED,
                                      detail=detail))
            resend.append((row_id, urgent, attempts))
        session.commit()
    for row_id, urgent, attempts in resend:
        log.warning("outbox %s was interrupted while sending: sending again", row_id)
        count_send_failure(app, "interrupted")
        # If Redis refuses, the row stays RETRYING and the next sweep queues it.
        enqueue_send(app, row_id, urgent, attempt=attempts)
    return len(resend)


def sweep(
    min_age: float = 10.0, queued_age: float = 60.0, sending_timeout: float | None = None
) -> dict[str, int]:
    """Commit spooled cases, queue again unrouted cases, unsent and cut-off messages."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if sending_timeout is None:
        sending_timeout = float(app.config.get("SEND_INTERRUPTED_AFTER", 90.0))
    replay_spool(app)
    now = utcnow()
    counts = {
        "cases": _route_new_cases(app, now - timedelta(seconds=min_age)),
        "queued": _resend_queued(app, now - timedelta(seconds=queued_age)),
        "retrying": _resend_retrying(app, now),
        "interrupted": _resend_interrupted(app, now - timedelta(seconds=sending_timeout)),
        "sms": _read_unread_sms(app, now - timedelta(seconds=min_age)),
    }
    done = {what: count for what, count in counts.items() if count}
    if done:  # a sweep that found nothing to repair says nothing
        log.info("sweep: queued again %s",
                 ", ".join(f"{count} {SWEPT[what]}" for what, count in done.items()))
    return counts


def _read_unread_sms(app: Flask, older_than: datetime) -> int:
    """Queue again the incoming SMS saved but never read (their job was lost)."""
    with session_scope(app) as session:
        ids = session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.status == InboundStatus.RECEIVED,
                   InboundMessage.received_at < older_than)
            .order_by(InboundMessage.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (inbound_job_id(message_id) for message_id in ids))
    return sum(
        1 for message_id in ids
        if inbound_job_id(message_id) not in live and enqueue_inbound(app, message_id)
    )


def purge() -> dict[str, int]:
    """Apply every retention rule (privacy/retention.py): the scheduled purge."""
    return apply_retention(current_app._get_current_object())  # type: ignore[attr-defined]
