"""One way to run production: the Procfile's lines, run the same by systemd and by a container."""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from configparser import ConfigParser
from pathlib import Path

import psutil
import pytest
import requests
import yaml
from flask import Flask
from redis import Redis

from tests.caller import Caller
from tests.faults.processes import (
    ROOT,
    WEBHOOK_TOKEN,
    HttpClient,
    Processes,
    free_port,
    gateway_env,
    processes,  # noqa: F401 - a fixture
    wait_for,
)

UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/gateway"  # where docs/deploy.md installs the checkout and its .venv
METRICS_TOKEN = "deploy-tests-metrics-token-7c1e9a3f5b2d8046"


def procfile() -> dict[str, list[str]]:
    """The Procfile's process types and their command lines, split as a shell would."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command)
        for name, command in (line.split(":", 1) for line in lines if line.strip())
    }


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign] - keys keep their case
    parser.read(UNITS / name)
    return parser


def exec_start(name: str) -> list[str]:
    """A unit's ExecStart, with the installed virtualenv's bin folder taken off the program."""
    argv = shlex.split(unit(name)["Service"]["ExecStart"])
    prefix = f"{INSTALLED}/.venv/bin/"
    assert argv[0].startswith(prefix), argv
    return [argv[0][len(prefix):], *argv[1:]]


def test_the_procfile_systemd_and_the_container_run_the_same_three_commands() -> None:
    commands = procfile()
    assert set(commands) == {"release", "web", "worker"}
    assert commands["release"] == ["gateway", "db", "upgrade"]
    assert commands["web"] == [
        "gunicorn", "-c", "python:gateway.web.gunicorn_conf", "gateway:create_app()",
    ]
    assert commands["worker"] == ["gateway", "worker"]

    assert exec_start("gateway-upgrade.service") == commands["release"]
    assert exec_start("gateway-web.service") == commands["web"]
    assert exec_start("gateway-worker@.service") == commands["worker"]

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["release"]["command"] == commands["release"]
    assert services["web"]["command"] == commands["web"]
    assert services["worker"]["command"] == commands["worker"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert yaml.safe_load(cmd) == commands["web"]


def test_the_compose_file_runs_the_production_shape() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert {"postgres", "redis", "release", "web", "worker"} <= set(services)
    for name in ("release", "web", "worker"):
        service = services[name]
        assert service["env_file"] == "gateway.env"  # `gateway secrets new > gateway.env`
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert service["init"] is True  # signals reach the process; orphans are reaped
    # Migrations run once, before the web and the workers start; nothing else migrates.
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["release"] == {
            "condition": "service_completed_successfully"
        }
    # Plain HTTP only on the host's loopback, for the TLS proxy.
    assert services["web"]["ports"] == ["127.0.0.1:5000:5000"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    # The worker gets longer than the job in hand may take to stop on its own.
    assert services["worker"]["stop_grace_period"] == "60s"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*.env" in ignored  # the secrets never go into the image


def test_the_systemd_units_are_valid_and_read_a_private_settings_file(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    names = ["gateway-web.service", "gateway-worker@.service", "gateway-upgrade.service"]
    for name in names:
        service = unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/gateway/gateway.env"
        assert service["User"] == "gateway"
        assert service["UMask"] == "0077"
    worker = unit("gateway-worker@.service")["Service"]
    assert worker["KillSignal"] == "SIGTERM"
    assert worker["KillMode"] == "mixed"  # the worker stops its scheduler itself
    assert int(worker["TimeoutStopSec"]) >= 60
    # systemd-analyze checks every key and that each program exists: point the units at this
    # checkout, where the programs do exist, and verify them as systemd would load them.
    for name in names:
        text = (UNITS / name).read_text().replace(INSTALLED, str(ROOT))
        target = tmp_path / (name.replace("@.", "@1.") if "@." in name else name)
        target.write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(path) for path in sorted(tmp_path.iterdir()))],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if "gateway" in line]
    assert problems == []


def test_gunicorn_listens_on_the_loopback_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = ROOT / "gateway" / "web" / "gunicorn_conf.py"
    monkeypatch.delenv("GATEWAY_BIND_HOST", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert runpy.run_path(str(conf))["bind"] == "127.0.0.1:8123"
    monkeypatch.setenv("GATEWAY_BIND_HOST", "0.0.0.0")
    assert runpy.run_path(str(conf))["bind"] == "0.0.0.0:8123"


def test_the_procfiles_web_line_serves_counts_hops_and_stops_on_sigterm(
    make_app: Callable[..., Flask], schema: str, redis_connection: Redis, tmp_path: Path,
    processes: Processes,  # noqa: F811
) -> None:
    from tests import deployment

    app = make_app()
    deployment.standard(app)
    port = free_port()
    metrics_dir = tmp_path / "not" / "there" / "yet"
    env = gateway_env(
        schema, redis_connection, tmp_path / "data", None,
        PORT=str(port), WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GATEWAY_METRICS_TOKEN=METRICS_TOKEN,
    )
    env.pop("GATEWAY_BIND_HOST", None)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    (tmp_path / "data").mkdir()
    web = (ROOT / "Procfile").read_text().split("web:", 1)[1].splitlines()[0].strip()
    server = processes._spawn("web", ["sh", "-c", f"exec {web}"], env)

    def healthy() -> bool:
        assert server.poll() is None, processes.log_text()
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for(healthy, timeout=30)
    # The missing metrics folder was made; the web listens on the loopback only.
    assert metrics_dir.is_dir()
    tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    listening = {
        (conn.laddr.ip, conn.laddr.port)
        for process in tree for conn in process.net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", port)}

    screen = Caller(HttpClient(port)).dial()  # type: ignore[arg-type]
    assert screen.startswith("CON ")
    scraped = requests.get(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5,
    ).text
    assert re.search(r'^gateway_ussd_hops_total\{screen="con"\} 1\.0$', scraped, re.MULTILINE)

    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)  # gateway-web.service's TimeoutStopSec
    assert time.monotonic() - started < 30
    assert not any(process.is_running() for process in tree[1:] if _alive(process))
    # One format for every line, gunicorn's own included (not a terminal: JSON); the access
    # lines carry no query string, where the token travels.
    lines = processes.log_text().splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    assert any(record["logger"] == "gunicorn.access" for record in records)
    assert WEBHOOK_TOKEN not in processes.log_text()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_gateway_commands_write_nothing_to_the_metrics_folder(
    schema: str, redis_connection: Redis, tmp_path: Path,
) -> None:
    """Only web processes pool hop counts there: a command neither writes nor needs the folder."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    missing = tmp_path / "missing"
    data = tmp_path / "data"
    data.mkdir()
    for where in (folder, missing):
        env = gateway_env(schema, redis_connection, data, None,
                          PROMETHEUS_MULTIPROC_DIR=str(where))
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "cases", "list"], env=env, cwd=ROOT,
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert list(folder.iterdir()) == []
    assert not missing.exists()
