"""The purge removes what may not stay, skips what this schema lacks, and shows it dry first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import inspect, text

from gateway.commands import _register, cli
from gateway.privacy import retention
from gateway.storage.db import get_engine
from gateway.storage.models import utcnow
from gateway.storage.redis import connection_url
from tests import deployment
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET

_register()


def _outbox(conn, status: str, days_ago: int, body: str) -> None:  # noqa: ANN001
    when = utcnow() - timedelta(days=days_ago)
    conn.execute(
        text("INSERT INTO outbox_messages (focal_point_id, purpose, urgent, status, attempts,"
             " created_at, updated_at, sent_at, body) VALUES (1, :p, 0, :s, 1, :t, :t, :t, :b)"),
        {"p": "case_alert", "s": status, "t": when, "b": body},
    )


def test_purge_clears_old_bodies_and_sessions_and_dry_run_changes_nothing(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'retention.db'}"
    app = make_app(DATABASE_URL=url, KEEP_OUTBOX_DAYS=30)
    from gateway.storage.migrate import upgrade

    upgrade(app)
    deployment.add_places(app)
    deployment.add_focal_point(app, name="CP", phone="+23670000001", pcodes=["CF52"])
    with get_engine(app).begin() as conn:
        # A body column as a later migration may add it: the rule finds it by name.
        _ensure_column(conn, "outbox_messages", "body")
        _outbox(conn, "sent", 40, "old delivered text")
        _outbox(conn, "failed", 40, "old failed text")
        _outbox(conn, "sent", 5, "recent text")
        _outbox(conn, "queued", 40, "still to send")
    monkeypatch.setattr(retention, "RULES", list(retention.RULES))
    retention.register_rule(retention.PurgeRule(
        name="a rule for a table not there", table="not_there", where="1 = 1", delete=True))
    redis = app.extensions["redis"]
    redis.set("ussd:session:stale", "{}")  # no expiry: left by a crash
    redis.set("ussd:session:live", "{}", ex=300)

    env = {"DATABASE_URL": url, "GATEWAY_SECRET_KEY": TEST_SECRET,
           "GATEWAY_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY, "GATEWAY_DATA_DIR": str(tmp_path),
           "REDIS_URL": connection_url(redis), "GATEWAY_KEEP_OUTBOX_DAYS": "30"}
    dry = CliRunner().invoke(cli, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "outbox message bodies after delivery: would remove 2" in dry.output
    assert "sessions and counters left without expiry: would remove 1" in dry.output
    assert "a rule for a table not there" not in dry.output
    assert _bodies(app) == ["old delivered text", "old failed text", "recent text",
                            "still to send"]

    done = CliRunner().invoke(cli, ["purge"], env=env)
    assert "outbox message bodies after delivery: removed 2" in done.output
    assert _bodies(app) == [None, None, "recent text", "still to send"]
    assert redis.exists("ussd:session:stale") == 0 and redis.exists("ussd:session:live") == 1
    again = CliRunner().invoke(cli, ["purge", "--dry-run"], env=env)
    assert "outbox message bodies after delivery: would remove 0" in again.output


def _ensure_column(conn, table: str, column: str, kind: str = "TEXT") -> None:  # noqa: ANN001
    """Add a column a later migration may bring, unless it is already there."""
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def _bodies(app: Flask) -> list[str | None]:
    with get_engine(app).connect() as conn:
        return list(conn.execute(text("SELECT body FROM outbox_messages ORDER BY id")).scalars())


def test_a_rule_for_closed_cases_and_a_registered_delete_rule(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'rules.db'}"
    app = make_app(DATABASE_URL=url, KEEP_FREE_TEXT_DAYS=10)
    from gateway.storage.migrate import upgrade

    upgrade(app)
    monkeypatch.setattr(retention, "RULES", list(retention.RULES))
    retention.register_rule(retention.PurgeRule(
        name="callback numbers past their limit", table="extra_numbers", delete=True,
        requires=("expires_at",), where="expires_at < :now",
    ))
    now = utcnow()
    with get_engine(app).begin() as conn:
        _ensure_column(conn, "cases", "details")
        _ensure_column(conn, "cases", "closed_at", "DATETIME")
        for ref, closed in (("1", now - timedelta(days=20)), ("2", now), ("3", None)):
            conn.execute(text(
                "INSERT INTO cases (reference, kind, channel, status, category, children, sex,"
                " urgent, language, created_at, details, closed_at) VALUES (:r, 'alert',"
                " 'ussd', 'routed', 'other', 'unknown', 'unknown', 'no', 'en', :c, 'words', :x)"
            ).bindparams(), {"r": ref, "c": now, "x": closed})
        conn.execute(text("CREATE TABLE extra_numbers (id INTEGER PRIMARY KEY,"
                          " number TEXT, expires_at DATETIME)"))
        conn.execute(text("INSERT INTO extra_numbers (number, expires_at) VALUES"
                          " ('x', :old), ('y', :new)"),
                     {"old": now - timedelta(days=1), "new": now + timedelta(days=1)})
    counts = retention.purge(app)
    assert counts["free text of closed cases"] == 1
    assert counts["callback numbers past their limit"] == 1
    with get_engine(app).connect() as conn:
        texts = conn.execute(text("SELECT details FROM cases ORDER BY reference")).scalars()
        assert list(texts) == [None, "words", "words"]
        assert conn.execute(text("SELECT number FROM extra_numbers")).scalars().all() == ["y"]
