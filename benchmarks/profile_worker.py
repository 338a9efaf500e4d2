"""Profile the worker side in one process: queued alerts routed and sent by an RQ SimpleWorker.

    python benchmarks/profile_worker.py --alerts 300 [--top 40] [--sort tottime]

Walks `--alerts` alerts through Flask's test client (not profiled), which queues their routing
jobs, then runs `SimpleWorker.work(burst=True)` under cProfile until the queues are empty,
sending to a local stand-in for Africa's Talking's API (as benchmarks/run.py). Uses
DATABASE_URL and REDIS_URL like benchmarks/run.py (both emptied), else an SQLite file in a
temporary folder and a redis-server it starts. Prints CPU milliseconds per alert, and what
moves less with a busy machine: Redis commands, SQL statements and commits per alert.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.profile_hop import walk  # noqa: E402
from benchmarks.run import _stand_in, free_port, prepare_database, start_redis  # noqa: E402

# Production settings need a webhook token; the bare endpoint ignores the query string.
TOKEN = "bench-webhook-token-3f9a1c7e5b2d8064a1f3c9e7b5d2"
HOP_PATH = f"/africastalking/ussd?token={TOKEN}"

class Counts:
    """Redis commands, SQL statements and commits from now until stop()."""

    def __init__(self, app: Any, show_sql: bool = False) -> None:
        from sqlalchemy import event

        self.redis = app.extensions["redis"]
        self.engine = app.extensions["db_engine"]
        self.statements = self.commits = 0
        self.before = self._redis_commands()

        def statement(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
            self.statements += 1
            if show_sql:
                print("SQL:", " ".join(sql.split())[:150])

        def commit(*_args: object) -> None:
            self.commits += 1

        self._listeners = [("before_cursor_execute", statement), ("commit", commit)]
        for name, listener in self._listeners:
            event.listen(self.engine, name, listener)

    def _redis_commands(self) -> int:
        return int(self.redis.info("stats")["total_commands_processed"])

    def stop(self) -> dict[str, float]:
        """Stop counting; return the counts (the Redis ones include the two INFO calls)."""
        from sqlalchemy import event

        for name, listener in self._listeners:
            event.remove(self.engine, name, listener)
        return {"Redis commands": self._redis_commands() - self.before,
                "SQL statements": self.statements, "commits": self.commits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--show-sql", action="store_true", help="print each SQL statement")
    parser.add_argument("--log-level", default="INFO", help="RQ's, as `gateway worker` (INFO)")
    parser.add_argument("--dump", type=Path, help="also write the raw profile to this file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gateway-wprof-"))
    server = None
    stand_in = None
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            server, redis_url = start_redis()
        at_port = free_port()
        ready = multiprocessing.Event()
        stand_in = multiprocessing.Process(
            target=_stand_in, args=(at_port, str(folder / "sms.jsonl"), ready), daemon=True)
        stand_in.start()
        ready.wait(10)
        from gateway.storage.crypto import new_key

        os.environ.update(
            DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'gateway.db'}",
            REDIS_URL=redis_url, GATEWAY_SECRET_KEY=secrets.token_urlsafe(48),
            GATEWAY_WEBHOOK_TOKEN=TOKEN,
            GATEWAY_ENCRYPTION_KEYS=new_key(), GATEWAY_DATA_DIR=str(folder / "data"),
            GATEWAY_LANGUAGES="fr,en", GATEWAY_RATE_PER_ADDRESS="100000000/60",
            GATEWAY_RATE_PER_CALLER="1000/60", GATEWAY_FLOOD_CASES_PER_HOUR="100000000",
            GATEWAY_SMS_SEGMENTS_PER_SECOND="100000",
            AT_USERNAME="bench", AT_API_KEY="bench-key", AT_API_URL=f"http://127.0.0.1:{at_port}",
        )
        import redis as redis_py

        redis_py.Redis.from_url(redis_url).flushdb()
        prepare_database(dict(os.environ))
        from rq import SimpleWorker

        from gateway import create_app
        from workers import queues

        app = create_app()
        client = app.test_client()
        connection = app.extensions["redis"]

        def drain() -> None:
            with app.app_context():
                SimpleWorker(queues.all_queues(app),
                             connection=connection).work(burst=True, logging_level=args.log_level)

        walk(client, 0)
        drain()  # warm up
        for number in range(1, args.alerts + 1):
            walk(client, number)
        counts = Counts(app, args.show_sql)
        profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if not args.no_profile:
            profile.enable()
        drain()
        profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counted = counts.stop()
        with open(folder / "sms.jsonl") as record:
            sent = sum(1 for _ in record) - 1
        print(f"{args.alerts} alerts, {sent} SMS: {cpu / args.alerts * 1000:.2f} ms CPU and "
              f"{wall / args.alerts * 1000:.2f} ms wall per alert; per alert: "
              + ", ".join(f"{value / args.alerts:.1f} {name}" for name, value in counted.items()))
        if not args.no_profile:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
            if args.dump:
                profile.dump_stats(args.dump)
        return 0
    finally:
        if stand_in is not None:
            stand_in.terminate()
        if server is not None:
            server.terminate()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
