"""The web process is killed and started again between two hops: the session goes on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case
from tests import deployment
from tests.caller import Caller
from tests.faults.processes import HttpClient, Processes, free_port, gateway_env
from tests.test_ussd import reference_in, walk_alert

pytestmark = pytest.mark.faults


class RestartBefore(HttpClient):
    """Posts hops to one web process, killed and started again before the n-th hop."""

    def __init__(self, port: int, hop: int, restart: Callable[[], None]) -> None:
        super().__init__(port)
        self.hop, self.restart = hop, restart

    def post(self, url: str, data: dict[str, str]) -> Any:
        if len(self.answered_by) + 1 == self.hop:
            self.restart()
        return super().post(url, data)


def test_a_session_continues_across_a_web_process_restart(
    make_app: Callable[..., Flask], schema: str, redis_connection: Redis, tmp_path: Path,
    processes: Processes,
) -> None:
    app = make_app()
    deployment.standard(app)
    env = gateway_env(schema, redis_connection, tmp_path, None)
    port = free_port()
    web = [processes.web(env, port)]

    def restart() -> None:
        processes.kill(web[0])
        web[0] = processes.web(env, port)

    client = RestartBefore(port, hop=5, restart=restart)
    end = walk_alert(Caller(client))  # type: ignore[arg-type]

    assert end.startswith("END ")
    reference = reference_in(end)
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
    assert case is not None and case.category == "recruitment"
