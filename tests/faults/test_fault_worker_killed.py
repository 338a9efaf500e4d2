"""A worker killed with SIGKILL in the middle of sending: the alert still goes out.

A second copy can reach a focal point in one window only: after the provider took the message
and before the row was marked sent. These tests kill a real worker process on either side of
that window, and inside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, Request, Response
from redis import Redis
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import OutboxMessage, OutboxStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.faults.processes import Processes, WriteLock, gateway_env, wait_for
from tests.test_ussd import reference_in, walk_alert

pytestmark = pytest.mark.faults


def _row(app: Flask) -> OutboxMessage | None:
    with session_scope(app) as session:
        return session.scalars(select(OutboxMessage)).one_or_none()


def _status(app: Flask) -> OutboxStatus | None:
    row = _row(app)
    return row.status if row else None


@pytest.fixture
def alert(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, redis_connection: Redis,
    tmp_path: Path,
) -> tuple[Flask, str, dict[str, str]]:
    """A committed alert whose routing job waits on the queue, and a worker's environment."""
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url)
    deployment.standard(app)
    reference = reference_in(walk_alert(Caller(app.test_client())))
    env = gateway_env(
        schema, redis_connection, tmp_path, at_api.url, GATEWAY_SEND_INTERRUPTED_AFTER="1"
    )
    return app, reference, env


def accepted(at_api: StandInAPI, refused: int) -> int:
    return len(at_api.messages) - refused


def test_killed_before_the_provider_took_it_the_alert_goes_out_once_after_restart(
    alert: tuple[Flask, str, dict[str, str]], at_api: StandInAPI, processes: Processes
) -> None:
    app, reference, env = alert
    arrived, release = threading.Event(), threading.Event()

    def hold_then_refuse(request: Request) -> Response:
        # The provider has the request but has not taken the message when the worker dies.
        arrived.set()
        release.wait(30)
        return StandInAPI.fail_http(503)(request)

    at_api.script.append(hold_then_refuse)
    first = processes.worker(env)
    assert arrived.wait(30), processes.log_text()
    assert _status(app) == OutboxStatus.SENDING
    processes.kill(first)
    release.set()

    second = processes.worker(env)
    wait_for(lambda: _status(app) == OutboxStatus.SENT, timeout=30)
    assert accepted(at_api, refused=1) == 1
    assert all(reference in m["form"]["message"] for m in at_api.messages)

    # Killed again after the row is marked sent: nothing goes out again.
    processes.kill(second)
    processes.worker(env)
    time.sleep(3)  # three sweeps
    assert accepted(at_api, refused=1) == 1
    assert _status(app) == OutboxStatus.SENT


def test_the_only_window_for_a_second_copy_is_between_acceptance_and_marking_sent(
    alert: tuple[Flask, str, dict[str, str]], at_api: StandInAPI, processes: Processes,
    schema: str,
) -> None:
    app, reference, env = alert
    answered = threading.Event()
    lock = WriteLock(schema)

    def accept_but_block_the_record(request: Request) -> Response:
        # The provider takes the message; the worker then cannot mark the row sent.
        row = _row(app)
        assert row is not None
        lock.hold(row.id)
        answered.set()
        return StandInAPI.accept(request, 1)

    at_api.script.append(accept_but_block_the_record)
    first = processes.worker(env)
    try:
        assert answered.wait(30), processes.log_text()
        time.sleep(0.5)  # the answer reaches the worker, which waits on the lock
        assert _status(app) == OutboxStatus.SENDING
        processes.kill(first)
    finally:
        lock.release()
    assert _status(app) == OutboxStatus.SENDING  # nothing recorded that the provider took it

    processes.worker(env)
    wait_for(lambda: _status(app) == OutboxStatus.SENT, timeout=30)
    # Inside that window, and only there, the focal point receives the alert twice.
    assert accepted(at_api, refused=0) == 2
    assert all(reference in m["form"]["message"] for m in at_api.messages)
    row = _row(app)
    assert row is not None and row.attempts == 2
