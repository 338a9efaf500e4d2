"""Retention: remove what the design says may not stay, on a schedule and on demand.

Each rule names a table, the columns it clears (or that its rows are deleted), the columns its
condition needs, and the setting that says how many days to keep. A rule whose table or columns
do not exist in this database is skipped, so a rule may be declared before its migration lands.
Stored vocabularies are spelled from their enums (storage/models.py), never by hand. A deployment
may add its own rule with `register_rule(PurgeRule(...))`. The worker runs `purge` on a schedule
(workers.enqueue.schedule_purges); `gateway purge` runs it on demand. Rules run in order.

Links between a pseudonym and its past (KEEP_REPORTER_LINK_DAYS, at least a day) are needed
only by flood control (a reporter's cases of the last hour, cases/routing.py) and by STOP
(numbers still kept and messages still pending for a pseudonym, cases/follow_up.py): older
ones are erased, so a seized server links no number to an older case, place or message. A
reporter not seen for that long is forgotten whole (their remembered language too): if they
call again they are new.
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
from gateway.storage.models import InboundStatus, OutboxPurpose, OutboxStatus, utcnow
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

# Redis keys that must always expire; one left without an expiry (a crash between two
# commands, an old version) is removed by the purge.
EXPIRING_KEYS = (
    "ussd:session:*", "ussd:resume:*", "sms:conversation:*", "sms:notice:*", "gateway:limit:*"
)


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
TO_REPORTER = _among("purpose", OutboxPurpose.REPORTER_REPLY, OutboxPurpose.REPORTER_ACK)
LINKS = "KEEP_REPORTER_LINK_DAYS"

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
        name="contact numbers after their limit or their case's close",
        table="contact_consents",
        clear=("number",),
        requires=("expires_at", "case_id"),
        where="expires_at < :now OR EXISTS (SELECT 1 FROM cases WHERE cases.id ="
              " contact_consents.case_id AND cases.closed_at IS NOT NULL)",
    ),
    PurgeRule(
        name="incoming SMS text after processing",
        table="inbound_messages",
        clear=("body", "reply_to"),
        requires=("status", "received_at"),
        where=f"{READ_INBOUND} AND COALESCE(processed_at, received_at) < :cutoff",
        keep_days_setting="KEEP_OUTBOX_DAYS",
    ),
    # Reporter links, oldest first: cases, then what only pointed to them.
    PurgeRule(
        name="reporter links of old cases",
        table="cases",
        # source_key digests the provider's session id, which the provider links to a number.
        clear=("reporter_id", "source_key"),
        requires=("created_at",),
        where="created_at < :cutoff",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="reporters not seen within the link period",
        table="reporters",
        delete=True,
        requires=("last_seen_at",),
        where="last_seen_at < :cutoff AND NOT EXISTS"
              " (SELECT 1 FROM cases WHERE cases.reporter_id = reporters.id)",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="reporters' places of unlinked cases",
        table="reporters",
        clear=("last_location_id",),
        where="NOT EXISTS (SELECT 1 FROM cases WHERE cases.reporter_id = reporters.id"
              " AND cases.location_id = reporters.last_location_id)",
    ),
    PurgeRule(
        name="reporters' first-seen times",
        table="reporters",
        clear=("created_at",),
        where="created_at < :cutoff",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="reporters' old language choices",
        table="reporters",
        clear=("language_chosen_at",),
        where="language_chosen_at < :cutoff",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="incoming SMS past the link period",
        table="inbound_messages",
        delete=True,
        requires=("status", "received_at"),
        where=f"{READ_INBOUND} AND received_at < :cutoff",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="reporter links of old messages to reporters",
        table="outbox_messages",
        # provider_message_id: the provider links it to the number; dedupe_key names an
        # incoming SMS whose id a new one may reuse once deleted (SQLite).
        clear=("pseudonym", "recipient", "body", "provider_message_id", "dedupe_key"),
        requires=("purpose", "status", "created_at"),
        where=f"{TO_REPORTER} AND {FINAL_OUTBOX} AND created_at < :cutoff",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="callback requests past the link period",
        table="callbacks",
        delete=True,
        # A number still kept (a shorter link period than its limit) stays findable by STOP.
        requires=("created_at", "number", "expires_at"),
        where="created_at < :cutoff AND (number IS NULL OR expires_at < :now)",
        keep_days_setting=LINKS,
    ),
    PurgeRule(
        name="contact consents past the link period",
        table="contact_consents",
        delete=True,
        requires=("created_at", "number"),
        where="created_at < :cutoff AND number IS NULL",
        keep_days_setting=LINKS,
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
    removed = "; ".join(f"{rule}: {count}" for rule, count in counts.items() if count)
    if not dry_run and removed:  # a purge that removed nothing says nothing
        log.info("purge removed %s", removed)
    return counts
