"""The one door into the jobs: every job name, id, time to live, delay and schedule lives here.

The domain (gateway/) calls only this module; it never imports a job module. Jobs are named by
import path, so the web process never imports them either. Every function puts ids on a queue
and survives a refusal by Redis: it logs once and returns False, and the sweep repairs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result

from workers.queues import ALL, DEFAULT, MAINTENANCE, URGENT
from workers.queues import init_app as init_app  # the door builds the queues too

log = logging.getLogger(__name__)

# Routes a case and sends its SMS in one job (gateway/delivery/send.py send_routed).
ROUTE_JOB = "workers.routing.route_and_send"
SEND_JOB = "workers.sending.send_outbox_message"
INBOUND_JOB = "workers.inbound.process_inbound"
ESCALATE_JOB = "workers.escalation.escalate_case"
SWEEP_JOB = "workers.sweep.sweep"
PURGE_JOB = "workers.sweep.purge"
DIGEST_JOB = "workers.digest.send_digests"
PRIMERO_JOB = "workers.primero.push_case"

# A job still waiting or running; any other status (or no job at all) means nothing will run it.
LIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)
# Keep a finished job's record a little while (the sweep's live check), then drop it.
RESULT_TTL = 600
# A failed job's record (its exception reduced by the callback below) is kept a day, not RQ's year.
FAILURE_TTL = 86400
# Every job's failure goes through this first: RQ then logs and keeps no exception message.
FAILURE_CALLBACK = "workers.failures.reduce_failure"
SEND_TIMEOUT = 60  # seconds; the SDK's own HTTP timeouts are about 12 s
# A job still running after its timeout was cut by RQ's death penalty; one counted as started
# much longer had its worker die (workers/lifecycle.py `abandoned_jobs`), and the sweep does
# its work again. Routing may send the case's SMS from the same job: a send's time.
ROUTE_TIMEOUT = SEND_TIMEOUT
ESCALATION_TIMEOUT = 30
SWEEP_RESULT_TTL = 120

SWEEP_LOCK = "gateway:sweep-lock"
PURGE_LOCK = "gateway:purge-lock"
DIGEST_LOCK = "gateway:digest-lock"
# The weekly digest's job is queued each hour, its id naming the ISO week; it queues nothing
# before the week's digest moment, nor a second SMS to anyone (gateway/trends/digest.py).
DIGEST_INTERVAL = 3600


def _queue(app: Flask, name: str) -> Queue:
    return app.extensions["queues"][name]


def _on_failure() -> Callback:
    """Return the failure callback every job carries (workers/failures.py)."""
    return Callback(FAILURE_CALLBACK)


def _put(app: Flask, name: str, job: str, refused: str, *, delay: float | None = None,
         args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
         **options: Any) -> bool:
    """Queue a job now or after `delay` seconds; log a refusal once and return False."""
    queue = _queue(app, name)
    options.setdefault("result_ttl", RESULT_TTL)
    options.setdefault("failure_ttl", FAILURE_TTL)
    options.setdefault("on_failure", _on_failure())
    try:
        if delay:
            queue.enqueue_in(timedelta(seconds=delay), job, args=args, kwargs=kwargs or {},
                             **options)
        else:
            queue.enqueue(job, args=args, kwargs=kwargs or {}, **options)
    except RedisError as exc:
        # What the job would do is still recorded in the database: the sweep queues it again.
        log.warning("%s: %s", refused, type(exc).__name__)
        return False
    return True


def _urgency(urgent: bool) -> str:
    return URGENT if urgent else DEFAULT


# Routing -------------------------------------------------------------------------------------


def route_job_id(case_id: int) -> str:
    """Return the job id of a case's routing job."""
    return f"route-{case_id}"


def enqueue_route(app: Flask, case_id: int, urgent: bool) -> bool:
    """Queue the routing of a committed case; return False when Redis refuses it."""
    return _put(app, _urgency(urgent), ROUTE_JOB, f"case {case_id} not queued for routing",
                args=(case_id,), job_id=route_job_id(case_id), job_timeout=ROUTE_TIMEOUT)


# Sending -------------------------------------------------------------------------------------


def send_job_id(outbox_id: int, attempt: int = 0) -> str:
    """Return the job id of an outbox row's send job (attempt > 0: a retry)."""
    return f"send-{outbox_id}-{attempt}" if attempt else f"send-{outbox_id}"


def enqueue_send(
    app: Flask,
    outbox_id: int,
    urgent: bool,
    *,
    delay: float | None = None,
    attempt: int = 0,
    deferral: int = 0,
    slot: float | None = None,
) -> bool:
    """Queue the sending of an outbox row, after `delay` seconds if given; False if refused.

    A send waiting for its turn at the channel's rate (gateway/delivery/throttle.py) comes back
    as deferral 1, 2... with the place in line it was given.
    """
    job_id = send_job_id(outbox_id, attempt)
    kwargs: dict[str, Any] = {}
    if deferral:
        job_id = f"{job_id}-w{deferral}"
        kwargs = {"deferral": deferral, "slot": slot}
    return _put(app, _urgency(urgent), SEND_JOB, f"outbox {outbox_id} not queued for sending",
                delay=delay, args=(outbox_id,), kwargs=kwargs, job_id=job_id,
                job_timeout=SEND_TIMEOUT)


def enqueue_sends(app: Flask, rows: Iterable[tuple[int, bool]]) -> int:
    """Queue the sending of committed outbox rows (id, urgent); return how many Redis took."""
    return sum(1 for outbox_id, urgent in rows if enqueue_send(app, outbox_id, urgent))


# Incoming SMS --------------------------------------------------------------------------------


def inbound_job_id(message_id: int) -> str:
    """Return the job id of an incoming SMS's processing job."""
    return f"sms-in-{message_id}"


def enqueue_inbound(app: Flask, message_id: int) -> bool:
    """Queue the reading of a saved incoming SMS; False when Redis refuses (the sweep retries)."""
    return _put(app, DEFAULT, INBOUND_JOB, f"SMS {message_id} not queued", args=(message_id,),
                job_id=inbound_job_id(message_id))


# Escalation ----------------------------------------------------------------------------------


def escalation_job_id(case_id: int, stage: int, now: bool = False) -> str:
    """Return the job id of a case's escalation stage (now: started by a failed delivery)."""
    return f"escalate-{case_id}-{stage}" + ("-now" if now else "")


def schedule_escalation(app: Flask, case_id: int, stage: int, delay: float) -> bool:
    """Put a case's escalation stage on RQ's scheduler; False when Redis refuses it."""
    return _put(app, URGENT, ESCALATE_JOB, f"case {case_id} escalation {stage} not scheduled",
                delay=max(delay, 0.001), args=(case_id, stage),
                job_id=escalation_job_id(case_id, stage), job_timeout=ESCALATION_TIMEOUT)


def escalate_now(app: Flask, case_id: int, stage: int) -> bool:
    """Run a case's escalation stage now (a focal point was not reached)."""
    return _put(app, URGENT, ESCALATE_JOB, f"case {case_id} escalation {stage} not queued",
                args=(case_id, stage), job_id=escalation_job_id(case_id, stage, now=True),
                job_timeout=ESCALATION_TIMEOUT)


# Primero (gateway/partners/primero.py) ------------------------------------------------------

# Two HTTP calls (POST, then PATCH after a 409), each within the client's 30 s timeout.
PRIMERO_TIMEOUT = 90


def primero_job_id(case_id: int, attempt: int = 0) -> str:
    """Return the job id of a case's push to Primero (attempt > 0: a retry)."""
    return f"primero-{case_id}-r{attempt}" if attempt else f"primero-{case_id}"


def enqueue_primero_push(app: Flask, case_id: int) -> bool:
    """Queue a case's push to Primero after commit, once: a push already waiting (or a retry
    scheduled) reads the case when it runs, so a double request is one job."""
    first = primero_job_id(case_id)
    retries = len(app.config.get("PRIMERO_RETRY_DELAYS") or ())
    waiting = [first, f"{first}-next",
               *(primero_job_id(case_id, n) for n in range(1, retries + 1))]
    try:
        jobs = Job.fetch_many(waiting, connection=app.extensions["redis"])
        states = {job.id: job.get_status(refresh=False) for job in jobs if job is not None}
    except RedisError as exc:
        log.warning("case %s not queued for Primero: %s", case_id, type(exc).__name__)
        return False
    if any(state in LIVE_STATUSES - {JobStatus.STARTED} for state in states.values()):
        return True
    # One running now read the case before this change: one more after it, pushing again.
    again = states.get(first) == JobStatus.STARTED
    return _put(app, MAINTENANCE, PRIMERO_JOB, f"case {case_id} not queued for Primero",
                args=(case_id,), kwargs={"again": True} if again else {},
                job_id=f"{first}-next" if again else first, job_timeout=PRIMERO_TIMEOUT)


def schedule_primero_retry(app: Flask, case_id: int, attempt: int, delay: float) -> bool:
    """Put a case's next push to Primero on RQ's scheduler after `delay` seconds."""
    return _put(app, MAINTENANCE, PRIMERO_JOB, f"case {case_id} Primero retry not scheduled",
                delay=max(delay, 0.001), args=(case_id,),
                job_id=primero_job_id(case_id, attempt), job_timeout=PRIMERO_TIMEOUT)


# What the queues hold ------------------------------------------------------------------------


def live_jobs(app: Flask, job_ids: Iterable[str]) -> set[str]:
    """Return those of job_ids that are waiting, scheduled or running."""
    ids = list(job_ids)
    if not ids:
        return set()
    jobs = Job.fetch_many(ids, connection=app.extensions["redis"])
    return {
        job.id for job in jobs if job is not None and job.get_status(refresh=False) in LIVE_STATUSES
    }


def current_job_id() -> str | None:
    """Return the id of the job this worker runs now, None outside a job (for the logs)."""
    try:
        job = get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker there is simply no job
        return None
    return job.id if job is not None else None


def queue_depths(app: Flask) -> dict[str, int]:
    """Return how many jobs wait on each queue; raise RedisError when Redis does not answer."""
    return {name: _queue(app, name).count for name in ALL}


# Failed jobs (the desk's administration) -----------------------------------------------------

MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class FailedJob:
    """A failed job as an administrator sees it: what and when, never its arguments."""

    id: str
    name: str  # the job's function, by import path
    queue: str
    failed_at: datetime | None
    # The last line of what RQ kept: JobFailed, the class and frames (workers/failures.py).
    error: str


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:MAX_ERROR_LENGTH] if lines else ""


def _failed(job_id: str, queue: str, job: Job | None) -> FailedJob:
    if job is None:  # its record expired before the registry was cleaned
        return FailedJob(job_id, "", queue, None, "")
    result = job.latest_result()
    error = result.exc_string if result is not None and result.type == Result.Type.FAILED else ""
    ended = job.ended_at
    if ended is not None and ended.tzinfo is None:
        ended = ended.replace(tzinfo=UTC)
    return FailedJob(job_id, job.func_name or "", queue, ended, _last_line(error))


def failed_jobs(app: Flask) -> list[FailedJob]:
    """Return the failed jobs of every queue, newest first; raise RedisError if Redis is away."""
    found = []
    for name in ALL:
        ids = _queue(app, name).failed_job_registry.get_job_ids()
        jobs = Job.fetch_many(ids, connection=app.extensions["redis"]) if ids else []
        found += [_failed(job_id, name, job) for job_id, job in zip(ids, jobs, strict=True)]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda job: job.failed_at or oldest, reverse=True)


def failed_job_count(app: Flask) -> int:
    """Return how many failed jobs every queue keeps; raise RedisError if Redis is away."""
    return sum(_queue(app, name).failed_job_registry.count for name in ALL)


def retry_failed(app: Flask, job_id: str) -> bool:
    """Put a failed job back on its queue (jobs are safe to run twice); False if none is failed."""
    for name in ALL:
        try:
            _queue(app, name).failed_job_registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError):
            continue
        return True
    return False


# Periodic work -------------------------------------------------------------------------------


def _every(app: Flask, stop: threading.Event, *, job: str, lock: str, interval: int,
           name: str, job_id: Callable[[], str] | None = None) -> None:
    """Queue `job` every `interval` seconds until stopped, once per interval across workers.

    job_id: names the job (default: `name` and the time); a job of that id still waiting or
    running is not queued again.
    """
    while not stop.is_set():
        try:
            redis: Redis = app.extensions["redis"]
            # Every worker process runs this loop; the lock lets one of them queue the job.
            if redis.set(lock, str(time.time()), nx=True, ex=interval):
                chosen = job_id() if job_id is not None else f"{name}-{int(time.time())}"
                if job_id is None or not live_jobs(app, [chosen]):
                    _queue(app, MAINTENANCE).enqueue(
                        job, job_id=chosen, result_ttl=interval * 4,
                        failure_ttl=FAILURE_TTL, on_failure=_on_failure(),
                    )
        except RedisError as exc:
            log.warning("%s not scheduled, Redis refused: %s", name, type(exc).__name__)
        except Exception:  # noqa: BLE001 - this thread must outlive any one failure
            log.exception("%s not scheduled", name)
        stop.wait(interval)


def schedule_sweeps(app: Flask, stop: threading.Event) -> None:
    """Queue a sweep every SWEEP_INTERVAL seconds, one per interval across every worker."""
    _every(app, stop, job=SWEEP_JOB, lock=SWEEP_LOCK,
           interval=max(1, int(app.config["SWEEP_INTERVAL"])), name="sweep")


def sweep_now(app: Flask) -> bool:
    """Queue a sweep at once (a worker died: its jobs are to be released and done again)."""
    return _put(app, MAINTENANCE, SWEEP_JOB, "sweep not queued",
                job_id=f"sweep-now-{int(time.time())}", result_ttl=SWEEP_RESULT_TTL)


def schedule_purges(app: Flask, stop: threading.Event) -> None:
    """Queue a retention purge every PURGE_INTERVAL seconds, one per interval across workers."""
    _every(app, stop, job=PURGE_JOB, lock=PURGE_LOCK,
           interval=max(60, int(app.config["PURGE_INTERVAL"])), name="purge")


def digest_job_id(moment: datetime) -> str:
    """Return the id of the weekly digest's job in the ISO week of `moment` (digest-2026-W05)."""
    year, week, _ = moment.isocalendar()
    return f"digest-{year}-W{week:02d}"


def schedule_digests(app: Flask, stop: threading.Event) -> None:
    """Queue the weekly digest's job every hour, one per hour across workers, named by week."""
    _every(app, stop, job=DIGEST_JOB, lock=DIGEST_LOCK, interval=DIGEST_INTERVAL, name="digest",
           job_id=lambda: digest_job_id(datetime.now(UTC)))
