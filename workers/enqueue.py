"""Putting jobs on the queues: ids only, and a refusal by Redis is survived, not raised."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq.job import Job, JobStatus

from workers.queues import DEFAULT, URGENT, get_queue

log = logging.getLogger(__name__)

# Jobs are named by import path: this module is imported by the web process, which never
# needs to import the job modules.
ROUTE_JOB = "workers.routing.route_case"
SEND_JOB = "workers.sending.send_outbox_message"

# A job still waiting or running; any other status (or no job at all) means nothing will run it.
LIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)
# Keep a finished job's record a little while (the sweep's live check), then drop it.
RESULT_TTL = 600
SEND_TIMEOUT = 60  # seconds; the SDK's own HTTP timeouts are about 12 s


def route_job_id(case_id: int) -> str:
    """Return the job id of a case's routing job."""
    return f"route-{case_id}"


def send_job_id(outbox_id: int, attempt: int = 0) -> str:
    """Return the job id of an outbox row's send job (attempt > 0: a retry)."""
    return f"send-{outbox_id}-{attempt}" if attempt else f"send-{outbox_id}"


def _queue_name(urgent: bool) -> str:
    return URGENT if urgent else DEFAULT


def enqueue_route(case_id: int, urgent: bool, app: Flask | None = None) -> bool:
    """Queue the routing of a committed case; return False when Redis refuses it."""
    queue = get_queue(_queue_name(urgent), app)
    try:
        queue.enqueue(ROUTE_JOB, case_id, job_id=route_job_id(case_id), result_ttl=RESULT_TTL)
    except RedisError as exc:
        # The case stays NEW in the database; the sweep routes it once Redis is back.
        log.warning("case %s not queued for routing: %s", case_id, type(exc).__name__)
        return False
    return True


def enqueue_send(
    outbox_id: int,
    urgent: bool,
    app: Flask | None = None,
    delay: float | None = None,
    attempt: int = 0,
) -> bool:
    """Queue the sending of an outbox row, after `delay` seconds if given; False if refused."""
    queue = get_queue(_queue_name(urgent), app)
    options = {
        "job_id": send_job_id(outbox_id, attempt),
        "result_ttl": RESULT_TTL,
        "job_timeout": SEND_TIMEOUT,
    }
    try:
        if delay:
            queue.enqueue_in(timedelta(seconds=delay), SEND_JOB, outbox_id, **options)
        else:
            queue.enqueue(SEND_JOB, outbox_id, **options)
    except RedisError as exc:
        # The row stays queued or retrying in the database; the sweep queues it again.
        log.warning("outbox %s not queued for sending: %s", outbox_id, type(exc).__name__)
        return False
    return True


def live_jobs(job_ids: Iterable[str], app: Flask | None = None) -> set[str]:
    """Return those of job_ids that are waiting, scheduled or running."""
    ids = list(job_ids)
    if not ids:
        return set()
    connection = (app or current_app).extensions["redis"]
    jobs = Job.fetch_many(ids, connection=connection)
    return {
        job.id for job in jobs if job is not None and job.get_status(refresh=False) in LIVE_STATUSES
    }
