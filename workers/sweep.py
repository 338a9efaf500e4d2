"""The sweep: queue again what the queues lost, and close sends that were cut off."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from gateway.db import session_scope
from gateway.metrics import count_send_failure
from gateway.models import Case, CaseEvent, CaseStatus, OutboxMessage, OutboxStatus, utcnow
from gateway.redis import get_redis
from gateway.spool import replay as replay_spool
from workers.enqueue import enqueue_route, enqueue_send, live_jobs, route_job_id, send_job_id
from workers.inbound import sweep_inbound
from workers.queues import MAINTENANCE, get_queue

log = logging.getLogger(__name__)

SWEEP_JOB = "workers.sweep.sweep"
SWEEP_LOCK = "gateway:sweep-lock"
INTERRUPTED_ERROR = "interrupted while sending: sent again"
BATCH = 500  # rows looked at per kind and per sweep; the next sweep takes the rest


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time stored here is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _route_new_cases(app: Flask, older_than: datetime) -> int:
    """Queue routing for cases still NEW whose routing job is gone."""
    with session_scope(app) as session:
        rows = session.execute(
            select(Case.id, Case.urgent)
            .where(Case.status == CaseStatus.NEW, Case.created_at < older_than)
            .order_by(Case.id)
            .limit(BATCH)
        ).all()
    live = live_jobs((route_job_id(case_id) for case_id, _ in rows), app)
    count = 0
    for case_id, urgent in rows:
        if route_job_id(case_id) not in live and enqueue_route(case_id, urgent == "yes", app):
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
    live = live_jobs((send_job_id(row_id) for row_id, _ in rows), app)
    count = 0
    for row_id, urgent in rows:
        if send_job_id(row_id) not in live and enqueue_send(row_id, urgent, app):
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
        if _aware(updated_at) + timedelta(seconds=delay) < now:
            due.append((row_id, urgent, attempts))
    live = live_jobs((send_job_id(row_id, attempts) for row_id, _, attempts in due), app)
    count = 0
    for row_id, urgent, attempts in due:
        if send_job_id(row_id, attempts) in live:
            continue
        if enqueue_send(row_id, urgent, app, attempt=attempts):
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
                session.add(CaseEvent(case_id=case_id, kind="sms_interrupted", detail=detail))
            resend.append((row_id, urgent, attempts))
        session.commit()
    for row_id, urgent, attempts in resend:
        log.warning("outbox %s was interrupted while sending: sending again", row_id)
        count_send_failure(app, "interrupted")
        # If Redis refuses, the row stays RETRYING and the next sweep queues it.
        enqueue_send(row_id, urgent, app, attempt=attempts)
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
        "sms": sweep_inbound(app, int(min_age)),
    }
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


def schedule_sweeps(app: Flask, stop_event: threading.Event) -> None:
    """Queue a sweep every SWEEP_INTERVAL seconds, one per interval across every worker."""
    interval = max(1, int(app.config["SWEEP_INTERVAL"]))
    while not stop_event.is_set():
        try:
            redis = get_redis(app)
            # Every worker process runs this loop; the lock lets one of them queue the sweep.
            if redis.set(SWEEP_LOCK, str(time.time()), nx=True, ex=interval):
                get_queue(MAINTENANCE, app).enqueue(
                    SWEEP_JOB, job_id=f"sweep-{int(time.time())}", result_ttl=interval * 4
                )
        except RedisError as exc:
            log.warning("sweep not scheduled, Redis refused: %s", type(exc).__name__)
        except Exception:  # noqa: BLE001 - this thread must outlive any one failure
            log.exception("sweep not scheduled")
        stop_event.wait(interval)
