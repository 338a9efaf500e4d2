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
INBOUND_JOB = "workers.inbound.process_inbound"

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
    deferral: int = 0,
    slot: float | None = None,
) -> bool:
    """Queue the sending of an outbox row, after `delay` seconds if given; False if refused.

    A send waiting for its turn at the channel's rate (workers/throttle.py) comes back as
    deferral 1, 2... with the place in line it was given.
    """
    queue = get_queue(_queue_name(urgent), app)
    job_id = send_job_id(outbox_id, attempt)
    kwargs: dict[str, object] = {}
    if deferral:
        job_id = f"{job_id}-w{deferral}"
        kwargs = {"deferral": deferral, "slot": slot}
    options = {"job_id": job_id, "result_ttl": RESULT_TTL, "job_timeout": SEND_TIMEOUT}
    try:
        if delay:
            queue.enqueue_in(
                timedelta(seconds=delay), SEND_JOB, args=(outbox_id,), kwargs=kwargs, **options
            )
        else:
            queue.enqueue(SEND_JOB, args=(outbox_id,), kwargs=kwargs, **options)
    except RedisError as exc:
        # The row stays queued or retrying in the database; the sweep queues it again.
        log.warning("outbox %s not queued for sending: %s", outbox_id, type(exc).__name__)
        return False
    return True


def inbound_job_id(message_id: int) -> str:
    """Return the job id of an incoming SMS's processing job."""
    return f"sms-in-{message_id}"


def enqueue_inbound(message_id: int, app: Flask | None = None) -> bool:
    """Queue the reading of a saved incoming SMS; False when Redis refuses (the sweep retries)."""
    queue = get_queue(DEFAULT, app)
    try:
        queue.enqueue(
            INBOUND_JOB, message_id, job_id=inbound_job_id(message_id), result_ttl=RESULT_TTL
        )
    except RedisError as exc:
        log.warning("SMS %s not queued: %s", message_id, type(exc).__name__)
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
