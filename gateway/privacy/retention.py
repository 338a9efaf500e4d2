"""Retention: remove what the design says may not stay, on a schedule and on demand.

Each rule names a table, the columns it clears (or that its rows are deleted), the columns its
condition needs, and the setting that says how many days to keep. A rule whose table or columns
do not exist in this database is skipped, so a rule may be declared before its migration lands.
Stored vocabularies are spelled from their enums (storage/models.py), never by hand. A deployment
may add its own rule with `register_rule(PurgeRule(...))`. The worker runs `purge` on a schedule
(workers.enqueue.schedule_purges); `gateway purge` runs it on demand.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import DateTime, bindparam, inspect, text

from gateway.storage.db import get_engine
from gateway.storage.models import InboundStatus, OutboxStatus, utcnow
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

# Redis keys that must always expire; one left without an expiry (a crash between two
# commands, an old version) is removed by the purge.
EXPIRING_KEYS = ("ussd:session:*", "gateway:limit:*")


@dataclass(frozen=True)
class PurgeRule:
    """What to clear (or delete) in one table, and when.

    `where` is SQL over the table's own columns with `:cutoff` (now less `keep_days_setting`
    days) and `:now`. `clear` lists columns set to NULL; candidates absent from the table are
    skipped, and the rule is skipped when none is present. `delete=True` deletes the rows.
    """

    name: str
    table: str
    where: str
    clear: tuple[str, ...] = ()
    delete: bool = False
    requires: tuple[str, ...] = ()
    keep_days_setting: str | None = None
    params: dict[str, object] = field(default_factory=dict)


def _among(column: str, *members: enum.StrEnum) -> str:
    """Spell `column IN (...)` with the values the enums store."""
    return f"{column} IN ({', '.join(repr(member.value) for member in members)})"


FINAL_OUTBOX = _among("status", OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.NOT_SENT)
READ_INBOUND = _among("status", InboundStatus.PROCESSED, InboundStatus.FAILED)

RULES: list[PurgeRule] = [
    PurgeRule(
        name="outbox message bodies after delivery",
        table="outbox_messages",
        clear=("body", "recipient"),
        requires=("status", "updated_at"),
        where=f"{FINAL_OUTBOX} AND COALESCE(delivered_at, sent_at, updated_at) < :cutoff",
        keep_days_setting="KEEP_OUTBOX_DAYS",
    ),
    PurgeRule(
        name="free text of closed cases",
        table="cases",
        clear=("details", "free_text"),
        requires=("closed_at",),
        where="closed_at IS NOT NULL AND closed_at < :cutoff",
        keep_days_setting="KEEP_FREE_TEXT_DAYS",
    ),
    PurgeRule(
        name="callback numbers after their limit",
        table="callbacks",
        clear=("number",),
        requires=("expires_at",),
        where="expires_at < :now",
    ),
    PurgeRule(
        name="incoming SMS text after processing",
        table="inbound_messages",
        clear=("body", "reply_to"),
        requires=("status", "received_at"),
        where=f"{READ_INBOUND} AND COALESCE(processed_at, received_at) < :cutoff",
        keep_days_setting="KEEP_OUTBOX_DAYS",
    ),
]


def register_rule(rule: PurgeRule) -> None:
    """Add a retention rule (callback numbers, inbound SMS text...) to every purge."""
    if all(existing.name != rule.name for existing in RULES):
        RULES.append(rule)


def _present(app: Flask, rule: PurgeRule) -> tuple[str, ...] | None:
    """Return the rule's columns to clear that exist (() for a delete), None to skip it."""
    inspector = inspect(get_engine(app))
    if not inspector.has_table(rule.table):
        return None
    columns = {column["name"] for column in inspector.get_columns(rule.table)}
    if not set(rule.requires) <= columns:
        return None
    if rule.delete:
        return ()
    cleared = tuple(name for name in rule.clear if name in columns)
    return cleared or None


def _apply(app: Flask, rule: PurgeRule, cleared: tuple[str, ...], now: datetime,
           dry_run: bool) -> int:
    days = int(app.config.get(rule.keep_days_setting, 0)) if rule.keep_days_setting else 0
    params = {"now": now, "cutoff": now - timedelta(days=days), **rule.params}
    condition = f"({rule.where})"
    if cleared:
        condition += " AND (" + " OR ".join(f"{name} IS NOT NULL" for name in cleared) + ")"
    if dry_run:
        sql = f"SELECT COUNT(*) FROM {rule.table} WHERE {condition}"
    elif rule.delete:
        sql = f"DELETE FROM {rule.table} WHERE {condition}"
    else:
        sets = ", ".join(f"{name} = NULL" for name in cleared)
        sql = f"UPDATE {rule.table} SET {sets} WHERE {condition}"
    # Typed, so the database compares them as it stores its own times (SQLite: as text).
    statement = text(sql).bindparams(
        *(bindparam(name, type_=DateTime(timezone=True)) for name in ("now", "cutoff")
          if f":{name}" in sql)
    )
    params = {name: value for name, value in params.items() if f":{name}" in sql}
    with get_engine(app).begin() as conn:
        result = conn.execute(statement, params)
        return int(result.scalar() or 0) if dry_run else int(result.rowcount or 0)


def _stale_redis_keys(app: Flask, dry_run: bool) -> int:
    redis = get_redis(app)
    count = 0
    for pattern in EXPIRING_KEYS:
        for key in redis.scan_iter(match=pattern, count=1000):
            if redis.ttl(key) == -1:  # exists, without an expiry
                count += 1
                if not dry_run:
                    redis.delete(key)
    return count


def purge(app: Flask, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Apply every retention rule; return what was (or, dry, would be) removed, by rule."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    for rule in RULES:
        cleared = _present(app, rule)
        if cleared is None:
            continue
        counts[rule.name] = _apply(app, rule, cleared, now, dry_run)
    try:
        counts["sessions and counters left without expiry"] = _stale_redis_keys(app, dry_run)
    except RedisError as exc:
        log.warning("Redis keys not purged: %s", type(exc).__name__)
    if not dry_run and any(counts.values()):
        log.info("purge: %s", counts)
    return counts
