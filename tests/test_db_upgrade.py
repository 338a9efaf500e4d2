"""Only `gateway db upgrade` migrates: every other command refuses an older schema in one line.

Also `gateway secrets new`: the block it prints is enough for a production start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from redis import Redis

from gateway import create_app
from gateway.commands import cases, data, database, main, maintenance, secrets
from gateway.errors import DatabaseBehind
from gateway.storage.db import get_engine
from gateway.storage.migrate import current_revision, head_revision, pending, upgrade
from gateway.storage.redis import connection_url
from tests import test_migrations
from tests.conftest import TEST_SECRET
from tests.faults.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = click.Group("gateway", commands=[
    *database.COMMANDS, *cases.COMMANDS, *data.COMMANDS, *maintenance.COMMANDS, *secrets.COMMANDS,
])
empty_database = test_migrations.empty_database  # an empty database of the run's kind


def behind(at: str) -> str:
    return (f"The database is behind this version of the gateway (at {at}, needs "
            f"{head_revision()}): run `gateway db upgrade`.")


@pytest.fixture
def gateway(
    empty_database: str, tmp_path: Path, redis_connection: Redis
) -> Callable[..., Result]:
    """Run a `gateway` command with its settings on the empty database and the test Redis."""
    env = {"DATABASE_URL": empty_database, "REDIS_URL": connection_url(redis_connection),
           "GATEWAY_SECRET_KEY": TEST_SECRET, "GATEWAY_DATA_DIR": str(tmp_path)}
    return lambda *args: CliRunner().invoke(GATEWAY, list(args), env=env)


@pytest.mark.parametrize(
    "command",
    [["cases", "list"], ["cases", "show", "1000001"], ["seed-demo"], ["purge", "--dry-run"],
     ["keys", "status"], ["keys", "rotate", "--dry-run"]],
    ids=" ".join,
)
def test_a_fresh_database_is_refused_with_one_line_and_left_empty(
    gateway: Callable[..., Result], command: list[str], make_app: Callable[..., Flask],
    empty_database: str,
) -> None:
    refused = gateway(*command)
    assert isinstance(refused.exception, DatabaseBehind), refused.output
    assert str(refused.exception) == behind("empty")
    assert current_revision(make_app(DATABASE_URL=empty_database)) is None


def test_db_upgrade_says_what_it_applied_then_that_it_is_up_to_date(
    gateway: Callable[..., Result], make_app: Callable[..., Flask], empty_database: str,
) -> None:
    app = make_app(DATABASE_URL=empty_database)
    expected = pending(app)
    assert [m.revision for m in expected][-1] == head_revision() and len(expected) >= 7
    first = gateway("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        f"Applied {len(expected)} migrations:",
        *(f"  {migration}" for migration in expected),
        f"Database is at {head_revision()}.",
    ]
    assert "  0001 initial schema" in first.output
    again = gateway("db", "upgrade")
    assert again.output == f"Database already up to date (at {head_revision()}).\n"
    listed = gateway("cases", "list")
    assert listed.exit_code == 0 and listed.output == "", listed.output


def test_one_migration_behind_is_named_and_applied_alone(
    gateway: Callable[..., Result], make_app: Callable[..., Flask], empty_database: str,
) -> None:
    app = make_app(DATABASE_URL=empty_database)
    expected = pending(app)
    upgrade(app, expected[-2].revision)
    get_engine(app).dispose()
    refused = gateway("cases", "list")
    assert str(refused.exception) == behind(expected[-2].revision)
    applied = gateway("db", "upgrade")
    assert applied.output.splitlines() == [
        "Applied 1 migration:", f"  {expected[-1]}", f"Database is at {head_revision()}."
    ]


def test_the_gateway_command_prints_the_refusal_as_one_line_and_exits_2(
    empty_database: str, tmp_path: Path, redis_connection: Redis,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.setenv("REDIS_URL", connection_url(redis_connection))
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gateway", "cases", "list"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code not in (0, 1, None)  # not a crash nor a usage error
    assert capsys.readouterr().err == behind("empty") + "\n"


def test_serve_on_a_configured_database_refuses_to_migrate_it(
    empty_database: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database, "GATEWAY_SECRET_KEY": TEST_SECRET,
           "GATEWAY_DATA_DIR": str(tmp_path / "instance"), "PORT": str(free_port())}
    env.pop("REDIS_URL", None)
    served = subprocess.run([sys.executable, "-m", "gateway", "serve"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert served.returncode != 0
    assert served.stderr.splitlines()[-1] == behind("empty"), served.stderr
    assert "Gateway on http" not in served.stdout


def test_the_printed_secrets_are_enough_for_a_production_start(
    schema: str, tmp_path: Path, redis_connection: Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    printed = CliRunner().invoke(GATEWAY, ["secrets", "new"])
    assert printed.exit_code == 0, printed.output
    settings = dict(line.split("=", 1) for line in printed.output.splitlines()
                    if line and not line.startswith("#"))
    assert set(settings) == {"GATEWAY_SECRET_KEY", "GATEWAY_WEBHOOK_TOKEN",
                             "GATEWAY_METRICS_TOKEN", "GATEWAY_ENCRYPTION_KEYS"}
    assert len(set(settings.values())) == 4
    again = CliRunner().invoke(GATEWAY, ["secrets", "new"]).output
    assert not set(settings.values()) & set(again.replace("=", "\n").splitlines())
    for name in [name for name in os.environ if name.startswith(("GATEWAY_", "AT_"))]:
        monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("REDIS_URL", connection_url(redis_connection))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    app = create_app()
    try:
        assert app.config["EMBEDDED"] is False
        assert app.config["SECRET_KEY"] == settings["GATEWAY_SECRET_KEY"]
        assert app.config["ENCRYPTION_KEYS"] == [settings["GATEWAY_ENCRYPTION_KEYS"]]
        token = settings["GATEWAY_METRICS_TOKEN"]
        health = app.test_client().get("/healthz", headers={"Authorization": f"Bearer {token}"})
        assert health.status_code == 200 and health.json["database"]["ok"], health.json
        assert list(tmp_path.iterdir()) == []  # nothing written: no embedded secret made
    finally:
        get_engine(app).dispose()
