"""Real gateway processes for fault tests: web (gunicorn) and worker, on the test DB and Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis

from gateway.storage.redis import connection_url
from tests.conftest import AT_API_KEY, AT_USERNAME, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
# Off the embedded default a gateway process refuses to start without a strong webhook token.
WEBHOOK_TOKEN = "fault-tests-webhook-token-5e0b7c2a9d4f8136"


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Call `check` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        time.sleep(every)


def gateway_env(
    database_url: str, redis: Redis, data_dir: Path, at_url: str | None, **extra: str
) -> dict[str, str]:
    """Return the environment a gateway process needs to share the test's database and Redis."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("AT_", "PROMETHEUS_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=connection_url(redis),
        GATEWAY_SECRET_KEY=TEST_SECRET,
        GATEWAY_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_LANGUAGES="fr,en",
        GATEWAY_SWEEP_INTERVAL="1",
        GATEWAY_SEND_RETRY_DELAYS="1,1,1,1",
        GATEWAY_FLOOD_CASES_PER_HOUR="100000",
        PYTHONPATH=str(ROOT),
    )
    if at_url:
        env.update(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_url)
    env.update(extra)
    return env


@dataclass
class Processes:
    """Start gateway processes; every one still running is killed at the end of the test."""

    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}-{len(self.started)}.log", "wb")
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        return process

    def worker(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `gateway worker` (RQ worker, scheduler, sweep)."""
        return self._spawn("worker", [sys.executable, "-m", "gateway", "worker"], env)

    def web(self, env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen[bytes]:
        """Start gunicorn serving the app, and wait until /healthz answers."""
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        argv = [
            gunicorn, "--workers", str(workers), "--threads", "4", "--bind",
            f"127.0.0.1:{port}", "--graceful-timeout", "2", "gateway:create_app()",
        ]
        process = self._spawn("web", argv, env)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"web process exited: see {self.logs}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        wait_for(ready, timeout=30)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """Kill a process and its children at once, as a power cut or `kill -9` would."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                self.kill(process)

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.logs.iterdir()))


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Processes(logs)
    try:
        yield running
    finally:
        running.stop_all()


class HttpResponse:
    """The parts of a Flask test response that `tests.caller.Caller` reads."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self.mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
        self.data = response.content
        self._text = response.text

    def get_data(self, as_text: bool = False) -> str | bytes:
        return self._text if as_text else self.data


class HttpClient:
    """Posts hops over HTTP to web processes (with the webhook token), taking turns by port."""

    def __init__(self, *ports: int) -> None:
        self.ports = ports
        self.answered_by: list[int] = []
        self.http = requests.Session()

    def post(self, url: str, data: dict[str, str]) -> HttpResponse:
        port = self.ports[len(self.answered_by) % len(self.ports)]
        response = self.http.post(
            f"http://127.0.0.1:{port}{url}", params={"token": WEBHOOK_TOKEN}, data=data,
            timeout=10,
        )
        self.answered_by.append(port)
        return HttpResponse(response)


class WriteLock:
    """Another client holding the outbox row (PostgreSQL) or the whole file (SQLite) for writing."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.connection: Any = None

    def hold(self, outbox_id: int) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            path = self.url.split("///", 1)[1]
            self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.connection = psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql"))
            self.connection.execute(
                "SELECT id FROM outbox_messages WHERE id = %s FOR UPDATE", (outbox_id,)
            )

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()
            self.connection = None
