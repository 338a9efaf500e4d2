"""`gateway worker` stops when asked, finishes or records its job, and leaves nothing behind.

Real worker processes on the test database and Redis. The worker runs `slow_job` below (it
imports this module: the repository is on its PYTHONPATH).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from flask import Flask
from redis import Redis
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.utils import as_text, utcparse

from tests.faults.processes import (
    Processes,
    gateway_env,
    processes,  # noqa: F401 - a fixture
    wait_for,
)
from workers.enqueue import FAILURE_CALLBACK
from workers.queues import ALL, DEFAULT

SLOW_JOB = "tests.test_worker_stop.slow_job"
STOP_TIMEOUT = 10.0  # the promise: an idle worker is gone this soon after SIGTERM


def slow_job(path: str, seconds: float) -> None:
    """A job that takes `seconds`, writing `started` then `done` to the file at `path`."""
    Path(path).write_text("started")
    time.sleep(seconds)
    Path(path).write_text("done")


@pytest.fixture
def worker_env(
    make_app: Callable[..., Flask], schema: str, redis_connection: Redis, tmp_path: Path
) -> dict[str, str]:
    make_app()  # empty tables and an empty Redis database, before and after
    # No periodic sweep in the way: the only job a worker runs is the test's.
    return gateway_env(schema, redis_connection, tmp_path, None, GATEWAY_SWEEP_INTERVAL="3600")


def _worker_registrations(redis: Redis) -> list[str]:
    """Every trace of a worker in Redis: its hash (and executions), its place in the sets."""
    keys = [as_text(key) for key in redis.keys("rq:worker:*")]
    for name in ("rq:workers", *(f"rq:workers:{queue}" for queue in ALL)):
        keys += [f"{name} has {as_text(member)}" for member in redis.smembers(name)]
    return keys


def _registrations(redis: Redis) -> list[str]:
    """Every trace of a worker or a scheduler in Redis, the scheduler's locks included."""
    keys = [as_text(key) for key in redis.keys("rq:scheduler:*")]
    keys += [as_text(key) for key in redis.keys("rq:scheduler-lock:*")]
    return _worker_registrations(redis) + keys


def _start(running: Processes, env: dict[str, str], redis: Redis
           ) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    """Start `gateway worker`; wait until it is registered and its scheduler runs."""
    worker = running.worker(env)

    def scheduler() -> psutil.Process | None:
        assert worker.poll() is None, running.log_text()
        if not redis.smembers("rq:workers"):
            return None
        for key in redis.keys("rq:scheduler:*"):
            pid = int(as_text(redis.hget(key, "pid") or b"0"))
            children = psutil.Process(worker.pid).children()
            return next((child for child in children if child.pid == pid), None)
        return None

    return worker, wait_for(scheduler, timeout=30)


def _enqueue_slow(redis: Redis, path: Path, seconds: float) -> Job:
    # As workers/enqueue.py queues every job: with the failure callback.
    return Queue(DEFAULT, connection=redis).enqueue(
        SLOW_JOB, args=(str(path), seconds), on_failure=Callback(FAILURE_CALLBACK)
    )


def _exit_code(worker: subprocess.Popen[bytes], timeout: float, log: Callable[[], str]) -> int:
    try:
        return worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"worker still running after {timeout}s:\n{log()}") from None


def test_sigterm_stops_an_idle_worker_and_its_scheduler_and_unregisters_it(
    worker_env: dict[str, str], redis_connection: Redis,
    processes: Processes,  # noqa: F811
) -> None:
    worker, scheduler = _start(processes, worker_env, redis_connection)

    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = _exit_code(worker, STOP_TIMEOUT, processes.log_text)

    assert code == 0, processes.log_text()
    assert time.monotonic() - started < STOP_TIMEOUT
    assert not scheduler.is_running() or scheduler.status() == psutil.STATUS_ZOMBIE
    assert _registrations(redis_connection) == []
    assert "Traceback" not in processes.log_text()


def test_sigterm_during_a_job_lets_it_finish_then_stops(
    worker_env: dict[str, str], redis_connection: Redis, tmp_path: Path,
    processes: Processes,  # noqa: F811
) -> None:
    worker, scheduler = _start(processes, worker_env, redis_connection)
    effect = tmp_path / "effect"
    job = _enqueue_slow(redis_connection, effect, 2.0)
    wait_for(effect.exists, timeout=10)

    worker.send_signal(signal.SIGTERM)
    code = _exit_code(worker, STOP_TIMEOUT, processes.log_text)

    assert code == 0, processes.log_text()
    assert effect.read_text() == "done"
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    psutil.wait_procs([scheduler], timeout=2)
    assert not scheduler.is_running() or scheduler.status() == psutil.STATUS_ZOMBIE
    assert _registrations(redis_connection) == []


def test_a_second_sigterm_cuts_the_job_which_is_recorded_as_failed(
    worker_env: dict[str, str], redis_connection: Redis, tmp_path: Path,
    processes: Processes,  # noqa: F811
) -> None:
    worker, scheduler = _start(processes, worker_env, redis_connection)
    effect = tmp_path / "effect"
    job = _enqueue_slow(redis_connection, effect, 60.0)
    wait_for(effect.exists, timeout=10)

    worker.send_signal(signal.SIGTERM)
    # The worker notes the warm stop in its hash; a repeat within a second is the same request
    # (RQ's rule: Ctrl-C under `gateway serve` reaches the worker twice at once).
    [worker_key] = [as_text(key) for key in redis_connection.smembers("rq:workers")]
    asked = wait_for(lambda: redis_connection.hget(worker_key, "shutdown_requested_date"))
    asked_at = utcparse(as_text(asked)).timestamp()
    wait_for(lambda: time.time() > asked_at + 1.2, timeout=5)
    assert worker.poll() is None  # still in the job
    worker.send_signal(signal.SIGTERM)
    code = _exit_code(worker, STOP_TIMEOUT, processes.log_text)

    assert code == 0, processes.log_text()
    assert effect.read_text() == "started"  # cut short
    # Not lost: failed, through the failure callback every job carries (workers/failures.py).
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert job.id in FailedJobRegistry(DEFAULT, connection=redis_connection).get_job_ids()
    result = job.latest_result()
    assert result is not None and "JobFailed: SystemExit" in (result.exc_string or "")
    psutil.wait_procs([scheduler], timeout=2)
    assert not scheduler.is_running() or scheduler.status() == psutil.STATUS_ZOMBIE
    assert _registrations(redis_connection) == []


def test_a_killed_workers_scheduler_exits_and_removes_its_registration(
    worker_env: dict[str, str], redis_connection: Redis,
    processes: Processes,  # noqa: F811
) -> None:
    worker, scheduler = _start(processes, worker_env, redis_connection)
    assert _registrations(redis_connection)  # what the check below looks for is found

    os.kill(worker.pid, signal.SIGKILL)  # the worker alone: nothing runs in it any more
    worker.wait(timeout=5)

    _gone, alive = psutil.wait_procs([scheduler], timeout=5)
    assert alive == [], processes.log_text()
    assert _registrations(redis_connection) == [], processes.log_text()


def test_a_starting_worker_removes_registrations_of_dead_workers_on_this_host(
    worker_env: dict[str, str], redis_connection: Redis,
    processes: Processes,  # noqa: F811
) -> None:
    first, scheduler = _start(processes, worker_env, redis_connection)
    [stale] = [as_text(key) for key in redis_connection.smembers("rq:workers")]
    # Killed together, as a power cut would: nobody is left to unregister the worker.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    psutil.wait_procs([scheduler], timeout=5)
    assert redis_connection.exists(stale)

    # Its scheduler's locks stay until they expire (a minute): no scheduler for this one.
    second = processes.worker(worker_env)
    wait_for(lambda: [as_text(key) for key in redis_connection.smembers("rq:workers")]
             not in ([], [stale]), timeout=30)

    assert not redis_connection.exists(stale)
    assert stale not in _worker_registrations(redis_connection)
    second.send_signal(signal.SIGTERM)
    assert _exit_code(second, STOP_TIMEOUT, processes.log_text) == 0
    assert _worker_registrations(redis_connection) == []
