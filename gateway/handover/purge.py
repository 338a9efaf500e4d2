"""`purge --everything`: the documented destruction of the old server's data, with a proof.

Deletes every row of every table of the gateway's schema (the schema itself and Alembic's
revision stay: the server is an empty gateway, and the proof can be read against it), then
compacts the database so deleted rows do not linger in free pages (SQLite VACUUM, PostgreSQL
VACUUM FULL). In Redis it deletes the keys under the gateway's own prefixes only (and RQ's,
which on the gateway's Redis database are the gateway's jobs). In the data folder it deletes
the spool of cases, and on the embedded default the secret and encryption key files: a backup
of the old database can no longer be decrypted, nor a pseudonym matched to a number.

The proof is a plain-text report: counts before and after per table, per Redis prefix, the
files removed, the times, and the sha256 of the report's text above that line.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine

from gateway.storage.db import Base, get_engine
from gateway.storage.models import Location, utcnow
from gateway.storage.redis import get_redis

# Every key the gateway writes starts with one of these (grep the code for a new prefix).
REDIS_PATTERNS = ("gateway:*", "ussd:*", "sms:*", "smsgate:*", "desk:*", "rq:*")
# Files of the data folder only the embedded default reads: its generated secrets.
EMBEDDED_KEY_FILES = ("secret_key", "encryption_key")
SPOOL = "spool"
# Words to type back to confirm: short, unambiguous, never the same twice in a row.
WORDS = ("amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "harbor", "indigo",
         "juniper", "kestrel", "lagoon", "meadow", "nickel", "orchid", "pebble", "quartz",
         "raven", "saffron", "tundra", "umber", "violet", "willow", "zephyr")


def confirmation_word() -> str:
    """Return a random word the operator types back to confirm the destruction."""
    return f"{secrets.choice(WORDS)}-{secrets.randbelow(900) + 100}"


def table_counts(engine: Engine) -> dict[str, int]:
    """Return the number of rows of every table of the schema, by name."""
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in sorted(Base.metadata.sorted_tables, key=lambda t: t.name)}


def redis_counts(app: Flask) -> dict[str, int]:
    """Return how many keys each of the gateway's Redis prefixes holds."""
    redis = get_redis(app)
    return {pattern: sum(1 for _ in redis.scan_iter(match=pattern, count=500))
            for pattern in REDIS_PATTERNS}


def owned_files(app: Flask) -> list[Path]:
    """Return the files of the data folder the destruction removes."""
    data_dir = Path(app.config["DATA_DIR"])
    found = sorted(path for path in (data_dir / SPOOL).rglob("*") if path.is_file())
    if app.config.get("EMBEDDED"):
        found += [data_dir / name for name in EMBEDDED_KEY_FILES if (data_dir / name).is_file()]
    return found


def _delete_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        # Places refer to their parents (ON DELETE RESTRICT): unlink them first.
        conn.execute(update(Location).values(parent_id=None))
        # Core statements: the audit trail's append-only guard watches ORM sessions; this is
        # the one documented place that deletes it (the archive kept it).
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def _compact(engine: Engine) -> None:
    """Rewrite the database files so deleted rows are not left in free space."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        elif engine.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                conn.execute(text(f'VACUUM FULL "{table.name}"'))


def _delete_keys(app: Flask) -> None:
    redis = get_redis(app)
    for pattern in REDIS_PATTERNS:
        batch: list[bytes] = []
        for key in redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                redis.delete(*batch)
                batch = []
        if batch:
            redis.delete(*batch)
    if getattr(redis, "socket_file", None):
        # The embedded server's dump file is the gateway's own: write it again, empty of them.
        redis.save()


def _delete_files(files: list[Path]) -> list[str]:
    removed = []
    for path in files:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(str(path))
    return removed


@dataclass(frozen=True)
class Proof:
    """What was destroyed: the report's lines and the sha256 of their text."""

    lines: list[str]
    sha256: str
    tables_after: dict[str, int]

    @property
    def text(self) -> str:
        """Return the whole report, its sha256 last."""
        return "\n".join([*self.lines, f"sha256 of the lines above: {self.sha256}"]) + "\n"


def _database_name(engine: Engine) -> str:
    """Name the database without its credentials."""
    url = engine.url
    return f"{url.get_backend_name()} {url.host + '/' if url.host else ''}{url.database or ''}"


def _report(app: Flask, engine: Engine, started: datetime, finished: datetime,
            before: dict[str, int], after: dict[str, int], keys_before: dict[str, int],
            keys_after: dict[str, int], removed: list[str]) -> Proof:
    width = max(len(name) for name in before)
    lines = [
        "gateway purge --everything: proof of destruction",
        f"database: {_database_name(engine)}",
        f"data folder: {app.config['DATA_DIR']}",
        f"started: {started.isoformat()}",
        f"finished: {finished.isoformat()}",
        f"{'table'.ljust(width)}  before  after",
        *(f"{name.ljust(width)}  {before[name]:>6}  {after[name]:>5}" for name in before),
        f"rows: {sum(before.values())} before, {sum(after.values())} after",
        "redis keys  before  after",
        *(f"{pattern:<10}  {keys_before[pattern]:>6}  {keys_after[pattern]:>5}"
          for pattern in keys_before),
        f"files removed: {len(removed)}",
        *(f"  {path}" for path in removed),
    ]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return Proof(lines, digest, after)


def purge_everything(app: Flask) -> Proof:
    """Destroy every row, the gateway's Redis keys and files; return the proof."""
    engine = get_engine(app)
    started = utcnow()
    before = table_counts(engine)
    try:
        keys_before = redis_counts(app)
    except RedisError:
        keys_before = dict.fromkeys(REDIS_PATTERNS, -1)  # -1: Redis did not answer
    files = owned_files(app)
    _delete_rows(engine)
    _compact(engine)
    try:
        _delete_keys(app)
        keys_after = redis_counts(app)
    except RedisError:
        keys_after = dict.fromkeys(REDIS_PATTERNS, -1)
    removed = _delete_files(files)
    after = table_counts(engine)
    return _report(app, engine, started, utcnow(), before, after, keys_before, keys_after,
                   removed)
