"""What an operator reads: one line per record (JSON off a terminal, text on one), gunicorn's own
lines in the same format without query strings, a quiet sweep, and one line when the database or
Redis does not answer."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis

from gateway import logs
from gateway.storage.redis import connection_url
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET
from tests.faults.processes import free_port
from tests.workers.factories import add_case, add_focal_point, add_places, closed_port_redis, work
from tests.workers.test_reporter_messages import queue as queue_reporter_reply
from tests.workers.test_workers_sending import deployment, route
from workers.enqueue import SWEEP_JOB
from workers.queues import MAINTENANCE
from workers.sweep import sweep

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "logs-test-webhook-token-7c1e9a3f5b2d8046e4a0c6b8"
GUNICORN = Path(sys.executable).parent / "gunicorn"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 (INFO|WARNING) +\S+ .+$")


def _env(**settings: str) -> dict[str, str]:
    """The environment without any gateway setting, then `settings`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GATEWAY_", "AT_")) and key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PYTHONUNBUFFERED="1", **settings)
    return env


def _production_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    return _env(
        DATABASE_URL=database_url, REDIS_URL=redis_url, GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_SECRET_KEY=TEST_SECRET, GATEWAY_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY,
        GATEWAY_WEBHOOK_TOKEN=TOKEN, GATEWAY_ALLOWED_IPS="127.0.0.1",
    )


_SAY = "from gateway import logs; import logging; logs.configure(); " \
       "logging.getLogger('gateway.demo').warning('outbox 7 failed: %s', 'retries exhausted')"


def _say(**settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _SAY], env=_env(**settings), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_off_a_terminal_every_line_is_json() -> None:
    done = _say()
    assert done.returncode == 0, done.stderr
    [entry] = [json.loads(line) for line in done.stderr.splitlines()]
    assert entry["level"] == "WARNING" and entry["logger"] == "gateway.demo"
    assert entry["message"] == "outbox 7 failed: retries exhausted"


def test_text_format_is_one_readable_line() -> None:
    done = _say(GATEWAY_LOG_FORMAT="text")
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert TEXT_LINE.match(line), line
    assert line.endswith(" WARNING gateway.demo outbox 7 failed: retries exhausted")


def test_a_terminal_gets_text_unless_told_otherwise() -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    assert logs.log_format({}, Terminal()) == "text"  # type: ignore[arg-type]
    assert logs.log_format({"GATEWAY_LOG_FORMAT": "JSON"}, Terminal()) == "json"  # type: ignore[arg-type]


def test_an_unknown_log_format_is_a_configuration_error_naming_the_variable() -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "worker", "--burst"],
                          env=_env(GATEWAY_LOG_FORMAT="xml"), cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Configuration error: GATEWAY_LOG_FORMAT must be text or json, got 'xml'"
    ]


def test_a_database_that_does_not_answer_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    database = f"postgresql+psycopg://gateway@127.0.0.1:{free_port()}/gateway"
    redis = f"redis://127.0.0.1:{free_port()}/0"
    done = subprocess.run([sys.executable, "-m", "gateway", "db", "upgrade"],
                          env=_production_env(database, redis, tmp_path), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert 1 <= len(lines) <= 2, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith("Database unreachable (OperationalError: ")
    assert lines[-1].endswith("check DATABASE_URL and that the database server is running "
                              "and reachable")


def test_redis_that_does_not_answer_is_one_line_in_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = closed_port_redis()
    try:
        redis.ping()
    except Exception:  # noqa: BLE001 - the failure is what is logged
        logging.getLogger("gateway.demo").exception("health check")
    [record] = caplog.records
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    exception = json.loads(line)["exception"]
    assert exception.startswith("Redis unreachable (ConnectionError: ")
    assert exception.endswith("check REDIS_URL and that the Redis server is running and reachable")
    text = logs.TextFormatter().format(record)
    assert "\n" not in text and "Traceback" not in text


def _wait_serving(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return
        except OSError:
            assert process.poll() is None, "gunicorn stopped"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)


def test_gunicorn_writes_json_lines_without_query_strings(
    tmp_path: Path, schema: str, redis_connection: Redis
) -> None:
    port = free_port()
    env = _production_env(schema, connection_url(redis_connection), tmp_path)
    gunicorn = subprocess.Popen(
        [str(GUNICORN), "--logger-class", "gateway.logs.GunicornLogger", "--access-logfile", "-",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "gateway:create_app()"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_serving(gunicorn, port)
        url = f"http://127.0.0.1:{port}/healthz?token={TOKEN}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        out, err = gunicorn.communicate(timeout=30)
    assert gunicorn.returncode == 0, err
    entries = [json.loads(line) for line in err.splitlines()]  # every line: JSON
    assert out == ""
    assert any(e["logger"] == "gunicorn.error" and "Listening at" in e["message"]
               for e in entries)
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    assert access, err
    last = access[-1]
    assert last["method"] == "GET" and last["path"] == "/healthz" and last["status"] == "200"
    assert isinstance(last["duration_ms"], float) and last["request_id"]
    assert last["message"].startswith("GET /healthz 200 ")
    assert TOKEN not in err and "token=" not in err


def test_a_sweep_with_nothing_to_do_logs_nothing_at_info(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    caplog.set_level(logging.INFO)
    job_id = f"sweep-{int(time.time())}"
    # As workers/enqueue.py `_every` queues it, run by a worker as `gateway worker` runs it.
    job = app.extensions["queues"][MAINTENANCE].enqueue(SWEEP_JOB, job_id=job_id)
    work(app)
    assert job.get_status() == "finished"
    about_the_sweep = [r.getMessage() for r in caplog.records if r.levelno <= logging.INFO and (
                       job_id in r.getMessage() or SWEEP_JOB in r.getMessage()
                       or "cleaning registries" in r.getMessage()
                       or r.name.startswith(("gateway", "workers")))]
    assert about_the_sweep == []


def test_a_sweep_that_repaired_something_says_so_in_one_line(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    add_places(app)
    add_case(app)  # NEW, its routing job lost
    caplog.set_level(logging.INFO)
    with app.app_context():
        sweep(min_age=-60)
    assert [r.getMessage() for r in caplog.records if r.name == "workers.sweep"] == [
        "sweep: queued again 1 unrouted case(s)"
    ]


# Not sent (no provider configured) -----------------------------------------------------------


def _not_sent(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "gateway.delivery.send" and "no provider configured" in r.getMessage()]


@pytest.mark.parametrize("demo", [True, False])
def test_an_alert_not_sent_shows_its_words_to_the_demo_only(
    make_app: Callable[..., Flask],
    schema: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    demo: bool,
) -> None:
    if not demo and schema.startswith("sqlite"):
        pytest.skip("SQLite is the demo's database: a deployment runs PostgreSQL")
    caplog.set_level(logging.INFO)
    app = make_app(EMBEDDED=demo)
    deployment(app)
    route(app, add_case(app, "CF521"))
    work(app)
    [line] = _not_sent(caplog)
    assert "SMS to Amina (Ouaka CP) (case_alert)" in line
    assert ("Bambari" in line) is demo  # the alert's words: on the demo only
    assert "23670000011" not in caplog.text
    assert capsys.readouterr().out == ""  # nothing printed outside the logs


def test_a_reply_to_a_focal_points_command_is_not_labelled_a_reporter(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = make_app(EMBEDDED=True)
    add_places(app)
    add_focal_point(app, "Amina (Ouaka CP)", "+23670000012", ["CF52"], languages=["en"])
    queue_reporter_reply(app, key="reply-ok", number="+23670000012", text="Case CF-1 taken: OK")
    queue_reporter_reply(app, key="reply-reporter", text="Your report CF-2 was read")
    work(app)
    lines = sorted(_not_sent(caplog))
    assert len(lines) == 2, lines
    to_focal_point = next(line for line in lines if "Amina" in line)
    to_reporter = next(line for line in lines if "Amina" not in line)
    assert "SMS to Amina (Ouaka CP) (reporter_reply): Case CF-1 taken: OK" in to_focal_point
    assert "SMS to a reporter (reporter_reply)" in to_reporter
    assert "CF-2" not in caplog.text and "read" not in to_reporter  # a reporter's words: never
    assert "23670000012" not in caplog.text and "243970001234" not in caplog.text
