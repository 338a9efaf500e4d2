"""A worker process that stops cleanly and leaves nothing behind, however it ends.

`gateway worker` runs RQ's SimpleWorker (jobs run in the worker process itself) and the
scheduler process RQ forks beside it. On top of RQ:

- SIGTERM/SIGINT: warm stop, after the current job (RQ's own). A second signal, a second or
  more after the first, is a cold stop: RQ raises SystemExit in the job, RQ's `perform_job`
  catches it like any exception, so the job goes through its failure callback
  (workers/failures.py) into the FailedJobRegistry (or is requeued if it has retries left):
  never lost. Signals after that are ignored so that recording finishes. A repeat within the
  second is the same request (RQ's rule): Ctrl-C under `gateway serve` reaches the worker from
  the terminal and from serve at once.
- A signal while no RQ worker runs (start-up, between restarts) is kept and honoured.
- The scheduler process watches its parent: when the worker is gone, even by SIGKILL, it
  removes the worker's registration, releases its scheduler locks and exits.
- The worker's registration is deleted at exit (RQ keeps it a minute marked dead), and a
  starting worker deletes those of dead workers on this host, and frees the scheduler locks
  a dead scheduler of this host still holds (RQ would wait a minute for them to expire, then
  up to its maintenance interval before trying again: every scheduled job would wait).
- A job whose worker died (its registration gone, its process gone on this host, or running
  past its timeout) is released at once by the sweep (`abandoned_jobs`), as RQ's own registry
  cleanup would do minutes later: the sweep then queues its work again (workers/sweep.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import psutil
from flask import current_app, has_app_context
from redis import Redis
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, ForkProcess, RQScheduler
from rq.scheduler import run as run_scheduler
from rq.scripts import release_lock
from rq.utils import as_text, now, utcparse
from rq.worker import WorkerStatus
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

from workers.enqueue import sweep_now

log = logging.getLogger(__name__)

# RQ's own rule (BaseWorker.request_force_stop): a second signal this soon is the same request.
REPEAT_WINDOW = timedelta(seconds=1)
# How often the scheduler looks for its parent, and how long it then has to stop on its own.
WATCH_INTERVAL = 0.25
ORPHAN_GRACE = 10.0
# How long the worker waits for its scheduler to stop before killing it (RQ waits forever).
SCHEDULER_STOP_TIMEOUT = 5.0
# RQ's defaults wait 7 minutes (worker_ttl 420) for an idle worker's heartbeat and 10 for its
# maintenance (registry cleaning, starting a scheduler whose locks came free): a minute each.
WORKER_TTL = 30
MAINTENANCE_INTERVAL = 60
# A worker without a scheduler (another holds the locks: maybe one whose worker just died and
# that is stopping) tries again this often, not only at its maintenance.
SCHEDULER_RETRY = 5.0
# A job still counted as started this long past its timeout was ended by no death penalty: its
# worker is gone (another host's worker, whose process cannot be looked at from here).
ABANDON_GRACE = 15.0
DEFAULT_JOB_TIMEOUT = 180  # RQ's, for a job queued without one
ABANDONED = "Moved to FailedJobRegistry, due to AbandonedJobError: its worker died"


class Stop:
    """SIGTERM/SIGINT received by this process, kept across the RQ workers it runs in turn."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.first_at: datetime | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self, _signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Record a stop request (a signal handler outside RQ's work loop)."""
        if self.first_at is None:
            self.first_at = now()
        self.event.set()

    def install(self) -> None:
        """Handle SIGTERM/SIGINT here while no RQ worker does."""
        signal.signal(signal.SIGINT, self.request)
        signal.signal(signal.SIGTERM, self.request)


def forget_worker(connection: Redis, key: str, queue_names: list[str]) -> None:
    """Delete a worker's registration: its hash, its executions and its place in the sets."""
    name = key.rsplit(":", 1)[-1]
    with connection.pipeline() as pipeline:
        pipeline.srem(REDIS_WORKER_KEYS, key)
        for queue in queue_names:
            pipeline.srem(WORKERS_BY_QUEUE_KEY % queue, key)
        pipeline.delete(key, WORKER_EXECUTIONS_KEY_TEMPLATE.format(name))
        pipeline.execute()


def _dead(pid: int, birth: datetime | None) -> bool:
    """Whether the worker process `pid` on this host, born at `birth`, has ended."""
    if pid == os.getpid():
        return True  # an earlier RQ worker of this process (restarted after a Redis error)
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        # A newer process with the same pid: the worker's number was given again.
        return birth is not None and process.create_time() > birth.timestamp() + 1
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # not ours to inspect: leave it to its TTL


def forget_dead_workers(connection: Redis, keep: str) -> list[str]:
    """Delete the registrations of dead workers on this host (all but `keep`); return them.

    A worker killed at once (SIGKILL, a power cut) cannot unregister itself, and RQ would list
    it for up to its TTL (minutes). The host is told by name, as RQ records it: containers
    sharing one hostname but not one pid namespace would be misjudged; they rarely do.
    """
    hostname = socket.gethostname()
    forgotten = []
    for member in connection.smembers(REDIS_WORKER_KEYS):
        key = as_text(member)
        if key == keep:
            continue
        host, pid, birth, queues = (
            as_text(value) if value is not None else None
            for value in connection.hmget(key, ["hostname", "pid", "birth", "queues"])
        )
        if host != hostname or not pid or not pid.isdigit():
            continue  # another machine's, or expired (RQ's registry cleaning drops it)
        if _dead(int(pid), utcparse(birth) if birth else None):
            forget_worker(connection, key, queues.split(",") if queues else [])
            forgotten.append(key)
    if forgotten:
        log.warning("removed the registration of %d dead worker(s) on this host", len(forgotten))
    return forgotten


def forget_dead_schedulers(connection: Redis, queue_names: list[str]) -> list[str]:
    """Free the scheduler locks held by dead schedulers on this host; return the queues freed.

    A worker killed at once takes its scheduler process with it when both are killed (a
    process group, a container): their locks would stay a minute, and RQ tries again only at
    its next maintenance. The same host rule as `forget_dead_workers`.
    """
    hostname = socket.gethostname()
    freed = []
    for queue in queue_names:
        lock = RQScheduler.get_locking_key(queue)
        holder = connection.get(lock)
        if holder is None:
            continue
        name = as_text(holder)
        host, pid, created = (
            as_text(value) if value is not None else None
            for value in connection.hmget(SCHEDULER_KEY_TEMPLATE % name,
                                          ["hostname", "pid", "created_at"])
        )
        if host != hostname or not pid or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if _dead(int(pid), utcparse(created) if created else None):
            release_lock(connection, lock, name)
            connection.delete(SCHEDULER_KEY_TEMPLATE % name)
            freed.append(queue)
    if freed:
        log.warning("freed the scheduler locks of a dead scheduler on this host: %s",
                    ", ".join(freed))
    return freed


def _worker_running(connection: Redis, job: Job) -> bool:
    """Whether the worker that started `job` may still be running it."""
    if job.worker_name:
        host, pid, birth = (
            as_text(value) if value is not None else None
            for value in connection.hmget(SimpleWorker.redis_worker_namespace_prefix
                                          + job.worker_name, ["hostname", "pid", "birth"])
        )
        if host is None:
            return False  # unregistered (a dead worker forgotten) or its heartbeat expired
        if host == socket.gethostname() and pid and pid.isdigit():
            # This process's own worker is registered and alive (the sweep runs in it).
            born = utcparse(birth) if birth else None
            return int(pid) == os.getpid() or not _dead(int(pid), born)
    if job.started_at is None:
        return True
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    timeout = job.timeout if job.timeout and job.timeout > 0 else DEFAULT_JOB_TIMEOUT
    return now() - started < timedelta(seconds=timeout + ABANDON_GRACE)


def abandoned_jobs(queues: list[Queue]) -> list[Job]:
    """Release the started jobs whose worker is gone, as RQ's registry cleanup would; return them.

    Each is recorded as failed (so a job no database row repairs can still be retried from the
    desk) and taken out of its queue's started registry; its work is for the sweep to repeat.
    """
    released: list[Job] = []
    for queue in queues:
        connection = queue.connection
        registry = queue.started_job_registry
        entries = registry.get_job_and_execution_ids(cleanup=False)
        if not entries:
            continue
        ids = list(dict.fromkeys(job_id for job_id, _ in entries))
        jobs = Job.fetch_many(ids, connection=connection, serializer=queue.serializer)
        for job in jobs:
            if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                continue
            if _worker_running(connection, job):
                continue
            stale = [f"{job_id}:{execution_id}" if execution_id else job_id
                     for job_id, execution_id in entries if job_id == job.id]
            with connection.pipeline() as pipeline:
                pipeline.zrem(registry.key, *stale)
                record_job_failure(job, ABANDONED, pipeline)
                pipeline.execute()
            log.warning("job %s of a dead worker released", job.id)
            released.append(job)
    return released


class WatchedScheduler(RQScheduler):
    """RQ's scheduler in a process that never outlives its worker.

    A thread in the scheduler process polls its parent pid: when the worker is gone (a
    SIGKILL included) the process is reparented and the pid changes. This needs no help
    from the dead parent, works on any POSIX system and cannot miss a parent that died before
    the check began. Linux's PR_SET_PDEATHSIG fires when the forking *thread* ends, is
    Linux-only, and as a signal could end the process before the dead worker's registration
    is removed, so it is not used.
    """

    def __init__(self, *args: Any, worker_key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.worker_key = worker_key
        self.orphaned = False

    def start(self) -> Any:
        """Fork the scheduler process, watching this process as its parent."""
        self._status = self.Status.STARTED
        self._connection = None  # a Redis client cannot cross a fork (as RQ does)
        self._process = ForkProcess(target=_run_watched, args=(self, os.getpid()),
                                    name="Scheduler")
        self._process.start()
        return self._process

    def stop(self) -> None:
        """Release the locks and unregister; for a dead worker, unregister it as well."""
        super().stop()
        if self.orphaned:
            forget_worker(self.connection, self.worker_key, sorted(self._queue_names))


def _run_watched(scheduler: WatchedScheduler, parent: int) -> None:
    """The scheduler process: RQ's scheduler loop, and a thread that watches the parent."""
    watchdog = threading.Thread(target=_watch_parent, args=(scheduler, parent),
                                name="parent-watch", daemon=True)
    watchdog.start()
    run_scheduler(scheduler)


def _watch_parent(scheduler: WatchedScheduler, parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    scheduler.log.warning("Scheduler: its worker (pid %d) is gone: stopping", parent)
    # The scheduler loop stops at its next turn (each second): it releases its locks, removes
    # its own and the dead worker's registration (WatchedScheduler.stop) and returns.
    scheduler.orphaned = True
    scheduler.request_stop()
    time.sleep(ORPHAN_GRACE)
    # Stuck (a Redis call that does not return): exit anyway; the locks expire in a minute.
    scheduler.log.error("Scheduler did not stop after its worker died: exiting")
    os._exit(1)


class GatewayWorker(SimpleWorker):
    """RQ's SimpleWorker, stopping as this module's docstring says."""

    def __init__(self, *args: Any, stop: Stop, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)
        self.stop = stop
        self._cutting = False
        self._scheduler_burst = True  # no scheduler to keep running until one is started
        self._scheduler_tried = time.monotonic()

    def register_birth(self) -> None:
        dead = forget_dead_workers(self.connection, keep=self.key)
        forget_dead_schedulers(self.connection, self.queue_names())
        super().register_birth()
        if dead and has_app_context():
            # A worker died here, maybe mid-job: the sweep releases its jobs and repeats their
            # work now, not at its next turn.
            sweep_now(current_app._get_current_object())  # type: ignore[attr-defined]

    def register_death(self) -> None:
        super().register_death()
        # RQ keeps the hash a minute, marked dead; a stopped worker leaves nothing.
        forget_worker(self.connection, self.key, self.queue_names())

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        if self.stop.requested:
            # The signal came before RQ's handlers were in place: honour it now, as RQ would.
            self._shutdown_requested_date = self.stop.first_at
            self._stop_requested = True
            signal.signal(signal.SIGINT, self.request_force_stop)
            signal.signal(signal.SIGTERM, self.request_force_stop)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.request()
        super().request_stop(signum, frame)

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._cutting or self.get_state() != WorkerStatus.BUSY:
            # No job to cut, or the cut one is being recorded as failed: let the stop finish,
            # every step of it is bounded in time.
            return
        if now() - (self._shutdown_requested_date or now()) < REPEAT_WINDOW:
            return
        self._cutting = True
        super().request_force_stop(signum, frame)

    def _scheduler_missing(self) -> bool:
        if self.scheduler is None or self._scheduler_burst or self._stop_requested:
            return False
        process = self.scheduler._process
        return process is None or not process.is_alive()

    @property
    def should_run_maintenance_tasks(self) -> bool:
        if super().should_run_maintenance_tasks:
            return True
        return (self._scheduler_missing()
                and time.monotonic() - self._scheduler_tried > SCHEDULER_RETRY)

    def run_maintenance_tasks(self) -> None:
        if self._stop_requested:
            return  # it would start again the scheduler the warm stop has just stopped
        if not super().should_run_maintenance_tasks:
            # Only the scheduler to start, if its locks came free (or their holder died).
            self._scheduler_tried = time.monotonic()
            assert self.scheduler is not None
            forget_dead_schedulers(self.connection, self.queue_names())
            self.scheduler.acquire_locks(auto_start=True)
            return
        super().run_maintenance_tasks()

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's own, with WatchedScheduler in place of RQScheduler.
        self._scheduler_burst = burst
        self.scheduler = WatchedScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer,
            worker_key=self.key,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker's scheduler has them
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stop the scheduler process: SIGTERM, then SIGKILL after a timeout (RQ waits forever)."""
        process = self.scheduler._process if self.scheduler else None
        if process is None or not process.pid:
            return
        try:
            os.kill(process.pid, signal.SIGTERM)
        except OSError:
            pass
        process.join(SCHEDULER_STOP_TIMEOUT)
        if process.is_alive():
            log.warning("scheduler did not stop in %ss: killed", SCHEDULER_STOP_TIMEOUT)
            process.kill()
            process.join(SCHEDULER_STOP_TIMEOUT)
