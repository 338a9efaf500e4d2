"""A worker SIGKILLed in the middle of a burst: every alert still reaches its focal points in
a minute once a worker runs again, none twice, and the dead worker leaves no process behind.

The kill lands at a known point: inside a routing job (its UPDATE waits on a lock the test
holds on the cases) or inside a send (the provider stand-in holds the request). The new worker
runs with the Procfile's defaults (a sweep every 30 s): what repairs in time is the dead
worker's jobs being released at once (workers/lifecycle.py, workers/sweep.py), not a fast
sweep. Also: an escalation timer lost from RQ's schedule is set again from the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask, Request, Response
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, OutboxMessage, OutboxStatus, aware
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.faults.processes import Processes, gateway_env, wait_for
from tests.test_ussd import reference_in, walk_alert
from workers.enqueue import escalation_job_id, route_job_id
from workers.queues import URGENT

pytestmark = pytest.mark.faults

BURST = 4  # alerts; each goes to two focal points
RECOVERY_BOUND = 60.0  # seconds from the new worker's start (issue 17)


class CasesLock:
    """Another client holding the cases for writing: a routing job waits inside its UPDATE."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.connection: Any = None

    def hold(self) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            path = self.url.split("///", 1)[1]
            self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.connection = psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql"))
            self.connection.execute("SELECT id FROM cases FOR UPDATE")

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()
            self.connection = None


def _burst(app: Flask, count: int) -> list[str]:
    """Walk `count` alerts through the USSD flow (committed, their routing queued)."""
    client = app.test_client()
    return [reference_in(walk_alert(Caller(client, phone=f"+24397000{n:04d}")))
            for n in range(count)]


def _delivered(app: Flask, at_api: StandInAPI, references: list[str], refused: int) -> bool:
    """Every case routed, every SMS sent, and the provider took as many as there are rows."""
    with session_scope(app) as session:
        cases = session.scalars(select(Case)).all()
        rows = session.scalars(select(OutboxMessage)).all()
    if len(cases) != len(references) or any(c.status == CaseStatus.NEW for c in cases):
        return False
    return bool(rows) and all(r.status == OutboxStatus.SENT for r in rows) and (
        len(at_api.messages) - refused >= len(rows)
    )


def _copies(at_api: StandInAPI, references: list[str], skip: int = 0) -> Counter[tuple[str, str]]:
    """Count the SMS the provider took, by (recipient, text); every alert must be in one."""
    taken = Counter((m["form"]["to"], m["form"]["message"]) for m in at_api.messages[skip:])
    for reference in references:
        assert any(reference in text for _, text in taken), reference
    return taken


def _kill_worker_alone(worker: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """SIGKILL the worker process only (not its group), as the OOM killer would; return its
    children (RQ's scheduler) as they were."""
    children = psutil.Process(worker.pid).children(recursive=True)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return children


def _gone(processes: list[psutil.Process]) -> bool:
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.fixture
def burst_env(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, redis_connection: Redis,
    tmp_path: Path,
) -> tuple[Flask, dict[str, str]]:
    """The standard deployment and a worker's environment with the Procfile's sweep interval."""
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url)
    deployment.standard(app)
    env = gateway_env(schema, redis_connection, tmp_path, at_api.url,
                      GATEWAY_SWEEP_INTERVAL="30", GATEWAY_SMS_SEGMENTS_PER_SECOND="0")
    return app, env


def test_a_worker_killed_inside_a_routing_job_every_alert_arrives_within_a_minute(
    burst_env: tuple[Flask, dict[str, str]], at_api: StandInAPI, processes: Processes,
    schema: str,
) -> None:
    app, env = burst_env
    references = _burst(app, BURST)
    first_case = min(c for c, in _case_ids(app))
    lock = CasesLock(schema)
    lock.hold()
    try:
        first = processes.worker(env)
        connection = app.extensions["redis"]
        wait_for(lambda: _status(connection, route_job_id(first_case)) == JobStatus.STARTED,
                 timeout=30)
        # The scheduler process the worker forked beside it.
        wait_for(lambda: psutil.Process(first.pid).children(), timeout=30)
        left = _kill_worker_alone(first)
    finally:
        lock.release()
    # SIGKILL of the worker leaves nothing behind: its scheduler follows within seconds.
    wait_for(lambda: _gone(left), timeout=10)
    assert at_api.messages == []

    processes.worker(env)  # at once
    started = time.monotonic()
    wait_for(lambda: _delivered(app, at_api, references, refused=0), timeout=RECOVERY_BOUND)
    assert time.monotonic() - started < RECOVERY_BOUND
    assert set(_copies(at_api, references).values()) == {1}  # nobody twice


def test_a_worker_killed_inside_a_send_every_alert_arrives_within_a_minute(
    burst_env: tuple[Flask, dict[str, str]], at_api: StandInAPI, processes: Processes,
) -> None:
    app, env = burst_env
    references = _burst(app, BURST)
    arrived, release = threading.Event(), threading.Event()

    def hold_then_refuse(request: Request) -> Response:
        # The provider has the request, and has not taken the message, when the worker dies.
        arrived.set()
        release.wait(30)
        return StandInAPI.fail_http(503)(request)

    at_api.script.append(hold_then_refuse)
    first = processes.worker(env)
    try:
        assert arrived.wait(30), processes.log_text()
        left = _kill_worker_alone(first)
    finally:
        release.set()
    wait_for(lambda: _gone(left), timeout=10)

    processes.worker(env)
    started = time.monotonic()
    wait_for(lambda: _delivered(app, at_api, references, refused=1), timeout=RECOVERY_BOUND)
    assert time.monotonic() - started < RECOVERY_BOUND
    # The first request was refused: nobody had it.
    assert set(_copies(at_api, references, skip=1).values()) == {1}


def test_a_lost_escalation_timer_is_set_again_and_escalates_on_time(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, redis_connection: Redis,
    tmp_path: Path, processes: Processes,
) -> None:
    delay = 15.0
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url)
    deployment.standard(app)
    env = gateway_env(schema, redis_connection, tmp_path, at_api.url,
                      GATEWAY_ESCALATION_DELAYS=f"urgent={delay},default={delay},pep={delay}")
    [reference] = _burst(app, 1)
    [(case_id,)] = _case_ids(app)
    processes.worker(env)
    timer = escalation_job_id(case_id, 1)
    scheduled = ScheduledJobRegistry(URGENT, connection=redis_connection)
    wait_for(lambda: timer in scheduled.get_job_ids(), timeout=30)
    # As if Redis had refused it at routing time: the timer is gone.
    scheduled.remove(timer)
    Job.fetch(timer, connection=redis_connection).delete()
    with session_scope(app) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.routed_at is not None
        # When the stage is due, on the stand-in's clock.
        due = time.monotonic() - (time.time() - aware(case.routed_at).timestamp()) + delay
    first_alerts = len(at_api.messages)

    def escalated() -> list[dict[str, Any]]:
        return [m for m in at_api.messages[first_alerts:]
                if m["form"]["to"] == deployment.OUAKA_BACKUP_PHONE]

    [sms] = wait_for(escalated, timeout=delay + RECOVERY_BOUND)
    assert reference in sms["form"]["message"]
    assert sms["at"] >= due - 1  # not before its time
    with session_scope(app) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.escalation_stage == 1
    assert len(escalated()) == 1


def _case_ids(app: Flask) -> list[tuple[int]]:
    with session_scope(app) as session:
        return [(case_id,) for case_id in session.scalars(select(Case.id).order_by(Case.id))]


def _status(connection: Redis, job_id: str) -> JobStatus | None:
    job = Job.fetch_many([job_id], connection=connection)[0]
    return job.get_status(refresh=False) if job is not None else None
