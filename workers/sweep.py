"""Maintenance jobs: the sweep queues again what the queues lost; the purge applies retention.

What the sweep repairs is read from the database; a job counts as still doing it while RQ
holds it waiting, scheduled or running. A job of a dead worker stops counting at once
(workers/lifecycle.py `abandoned_jobs`): its work is queued again in the same sweep, without
waiting for the ages that cover jobs merely lost on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update

from gateway.cases.escalation import awaiting, due_at
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
    INBOUND_JOB,
    ROUTE_JOB,
    SEND_JOB,
    enqueue_inbound,
    enqueue_route,
    enqueue_send,
    escalate_now,
    escalation_job_id,
    inbound_job_id,
    live_jobs,
    route_job_id,
    schedule_escalation,
    send_job_id,
)
from workers.lifecycle import abandoned_jobs
from workers.queues import all_queues

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
    "escalations": "escalation timer(s)",
}
NO_IDS: frozenset[int] = frozenset()
ROUTING_JOBS = "workers.routing."


def _release_abandoned(app: Flask) -> dict[str, set[int]]:
    """Release the jobs of dead workers; return the ids they held, by job (route, send...)."""
    try:
        released = abandoned_jobs(all_queues(app))
    except RedisError as exc:
        log.warning("sweep: jobs of dead workers not looked at: %s", type(exc).__name__)
        return {}
    held: dict[str, set[int]] = {}
    for job in released:
        name = job.func_name or ""
        if name.startswith(ROUTING_JOBS):
            name = ROUTE_JOB  # the routing job, whichever of its forms ran
        if name in (ROUTE_JOB, SEND_JOB, INBOUND_JOB) and job.args:
            held.setdefault(name, set()).add(int(job.args[0]))
    cases = held.get(ROUTE_JOB)
    if cases:
        # A routing job may send its case's SMS itself: those it left unsent, it held too.
        with session_scope(app) as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.attempts).where(
                    OutboxMessage.case_id.in_(cases),
                    OutboxMessage.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENDING,
                                              OutboxStatus.RETRYING)))).all()
        # Not those a send job of a live worker has in hand now (a retry that started meanwhile):
        # releasing them could send them twice.
        jobs = {row_id: {send_job_id(row_id, attempt) for attempt in range(attempts + 1)}
                for row_id, attempts in rows}
        try:
            live = live_jobs(app, {job for ids in jobs.values() for job in ids})
        except RedisError:
            live = {job for ids in jobs.values() for job in ids}  # unsure: leave them be
        held.setdefault(SEND_JOB, set()).update(
            row_id for row_id, ids in jobs.items() if not ids & live)
    return held


def _route_new_cases(app: Flask, older_than: datetime, now: Collection[int] = NO_IDS) -> int:
    """Queue routing for cases still NEW whose routing job is gone (`now`: whatever their age)."""
    with session_scope(app) as session:
        rows = session.execute(
            select(Case.id, Case.urgent)
            .where(Case.status == CaseStatus.NEW,
                   or_(Case.created_at < older_than, Case.id.in_(now)))
            .order_by(Case.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (route_job_id(case_id) for case_id, _ in rows))
    count = 0
    for case_id, urgent in rows:
        if route_job_id(case_id) not in live and enqueue_route(app, case_id, urgent is True):
            count += 1
    return count


def _resend_queued(app: Flask, older_than: datetime, now: Collection[int] = NO_IDS) -> int:
    """Queue again the QUEUED rows whose send job is gone (`now`: whatever their age)."""
    with session_scope(app) as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.urgent)
            .where(OutboxMessage.status == OutboxStatus.QUEUED,
                   or_(OutboxMessage.updated_at < older_than, OutboxMessage.id.in_(now)))
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (send_job_id(row_id) for row_id, _ in rows))
    count = 0
    for row_id, urgent in rows:
        if send_job_id(row_id) not in live and enqueue_send(app, row_id, urgent):
            count += 1
    return count


def _resend_retrying(app: Flask, now: datetime, released: Collection[int] = NO_IDS) -> int:
    """Queue again the RETRYING rows whose retry is due and whose retry job is gone.

    released: rows whose retry job started on a worker that died: it was due.
    """
    delays: list[float] = list(app.config["SEND_RETRY_DELAYS"]) or [0.0]
    with session_scope(app) as session:
        rows = session.execute(
            select(
                OutboxMessage.id, OutboxMessage.urgent, OutboxMessage.attempts,
                OutboxMessage.updated_at,
            )
            .where(OutboxMessage.status == OutboxStatus.RETRYING,
                   or_(OutboxMessage.updated_at < now - timedelta(seconds=min(delays)),
                       OutboxMessage.id.in_(released)))
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
    due = []
    for row_id, urgent, attempts, updated_at in rows:
        delay = delays[min(max(attempts - 1, 0), len(delays) - 1)]
        if row_id in released or aware(updated_at) + timedelta(seconds=delay) < now:
            due.append((row_id, urgent, attempts))
    live = live_jobs(app, (send_job_id(row_id, attempts) for row_id, _, attempts in due))
    count = 0
    for row_id, urgent, attempts in due:
        if send_job_id(row_id, attempts) in live:
            continue
        if enqueue_send(app, row_id, urgent, attempt=attempts):
            count += 1
    return count


def _resend_interrupted(app: Flask, older_than: datetime, now: Collection[int] = NO_IDS) -> int:
    """Send again the rows left SENDING by a send cut off midway (a killed worker).

    A live send never outlasts its job's timeout, so a row still SENDING long after that was
    cut off; `now`: rows whose send job's worker died, cut off for sure. The provider may have
    taken it just before the cut: only then can a second copy go out, and sending again is
    better than an alert that never arrives.
    """
    with session_scope(app) as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.case_id, OutboxMessage.focal_point_id,
                   OutboxMessage.urgent, OutboxMessage.attempts)
            .where(OutboxMessage.status == OutboxStatus.SENDING,
                   or_(OutboxMessage.updated_at < older_than, OutboxMessage.id.in_(now)))
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        ).all()
        resend = []
        for row_id, case_id, focal_point_id, urgent, attempts in rows:
            changed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id,
                       OutboxMessage.status == OutboxStatus.SENDING,
                       or_(OutboxMessage.updated_at < older_than,
                           OutboxMessage.id.in_(now)))
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
    held = _release_abandoned(app)
    sends = held.get(SEND_JOB, set())
    now = utcnow()
    counts = {
        "cases": _route_new_cases(app, now - timedelta(seconds=min_age),
                                  held.get(ROUTE_JOB, set())),
        "queued": _resend_queued(app, now - timedelta(seconds=queued_age), sends),
        "retrying": _resend_retrying(app, now, sends),
        "interrupted": _resend_interrupted(app, now - timedelta(seconds=sending_timeout), sends),
        "sms": _read_unread_sms(app, now - timedelta(seconds=min_age),
                                held.get(INBOUND_JOB, set())),
        "escalations": _rearm_escalations(app, now, now - timedelta(seconds=min_age)),
    }
    done = {what: count for what, count in counts.items() if count}
    if done:  # a sweep that found nothing to repair says nothing
        log.info("sweep: queued again %s",
                 ", ".join(f"{count} {SWEPT[what]}" for what, count in done.items()))
    return counts


def _read_unread_sms(app: Flask, older_than: datetime, now: Collection[int] = NO_IDS) -> int:
    """Queue again the incoming SMS saved but never read (their job was lost)."""
    with session_scope(app) as session:
        ids = session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.status == InboundStatus.RECEIVED,
                   or_(InboundMessage.received_at < older_than, InboundMessage.id.in_(now)))
            .order_by(InboundMessage.id)
            .limit(BATCH)
        ).all()
    live = live_jobs(app, (inbound_job_id(message_id) for message_id in ids))
    return sum(
        1 for message_id in ids
        if inbound_job_id(message_id) not in live and enqueue_inbound(app, message_id)
    )


def _rearm_escalations(app: Flask, now: datetime, routed_before: datetime) -> int:
    """Set again the escalation timers that are missing: a stage due escalates now.

    A timer Redis refused at routing (or after a stage), or one lost with Redis's data, would
    leave an unacknowledged alert unescalated for ever. The stage is claimed in the database
    (cases/escalation.py), so a timer set twice still escalates once.
    """
    with session_scope(app) as session:
        waiting = awaiting(session, routed_before, BATCH)
    if not waiting:
        return 0
    live = live_jobs(app, (escalation_job_id(case_id, stage, now=soon)
                           for case_id, stage in waiting for soon in (False, True)))
    missing = {
        case_id: stage for case_id, stage in waiting
        if not {escalation_job_id(case_id, stage), escalation_job_id(case_id, stage, True)} & live
    }
    if not missing:
        return 0
    with session_scope(app) as session:
        due = due_at(session, list(missing), app.config.get("ESCALATION_DELAYS"))
    count = 0
    for case_id, stage in missing.items():
        delay = (due[case_id] - now).total_seconds()
        if delay <= 0:
            log.warning("case %s: escalation stage %s due and its timer missing: escalating now",
                        case_id, stage)
            count += escalate_now(app, case_id, stage)
        else:
            count += schedule_escalation(app, case_id, stage, delay)
    return count


def purge() -> dict[str, int]:
    """Apply every retention rule (privacy/retention.py): the scheduled purge."""
    return apply_retention(current_app._get_current_object())  # type: ignore[attr-defined]
