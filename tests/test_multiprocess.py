"""The production layout in small: two web processes, two workers, one database and Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from redis import Redis
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, OutboxMessage, OutboxStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.faults.processes import (
    HttpClient,
    Processes,
    free_port,
    gateway_env,
    processes,  # noqa: F401 - a fixture
    wait_for,
)
from tests.test_ussd import reference_in, walk_alert


def test_a_session_moves_between_web_processes_and_its_alert_is_sent_once(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, redis_connection: Redis,
    tmp_path: Path, processes: Processes,  # noqa: F811
) -> None:
    app = make_app()
    deployment.standard(app)
    env = gateway_env(schema, redis_connection, tmp_path, at_api.url)
    ports = (free_port(), free_port())
    for port in ports:
        processes.web(env, port)
    processes.worker(env)
    processes.worker(env)

    client = HttpClient(*ports)
    end = walk_alert(Caller(client))  # type: ignore[arg-type]

    assert end.startswith("END ")
    reference = reference_in(end)
    # Every hop went to the other web process than the one before.
    assert client.answered_by == [ports[i % 2] for i in range(len(client.answered_by))]
    assert len(client.answered_by) >= 10

    def sent() -> bool:
        with session_scope(app) as session:
            return session.scalar(select(OutboxMessage.status)) == OutboxStatus.SENT

    wait_for(sent, timeout=30)
    time.sleep(2)  # both workers sweep twice more: nothing goes out again
    [sms] = at_api.messages
    assert reference in sms["form"]["message"]
    assert sms["form"]["to"] == deployment.OUAKA_PHONE
    with session_scope(app) as session:
        assert session.scalar(select(Case.status)) == CaseStatus.ROUTED
