"""`gateway locations import`, `gateway focal-points import|deactivate`, `gateway seed-demo`.

The whole-roster import and deactivation, end to end, are in test_roster.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from gateway.commands import data
from gateway.storage.db import session_scope
from gateway.storage.models import FocalPoint, FocalPointLocation, Gender, Level, Location

SECRET = "cli-test-secret-key-9f8e7d6c5b4a3210-zyxwvutsrqponm"
PLACES = "pcode,name,parent_pcode\nCF52,Ouaka,CF\nCF,Centrafrique,\nCF521,Bambari,CF52\n"
PEOPLE = (
    "name,phone,organisation,gender,languages,locations,categories,role,level\n"
    "Ouaka officer,+23670000011,UNICEF,F,fr;sg,CF52,recruitment;abduction,"
    "child_protection,primary\n"
)


@pytest.fixture
def gateway_cli() -> click.Group:
    """The data commands in a group, as `gateway` registers them."""
    return click.Group("gateway", commands=data.COMMANDS)


@pytest.fixture
def env(
    make_app: Callable[..., Flask],
    schema: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flask]:
    """Point the command's settings at the test database; yield an app to look at it."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    for name in ("AT_USERNAME", "AT_API_KEY", "AT_API_URL", "AT_SENDER_ID"):
        monkeypatch.delenv(name, raising=False)
    yield make_app()


def run(group: click.Group, *args: str) -> Result:
    return CliRunner().invoke(group, list(args), catch_exceptions=False)


def counts(app: Flask) -> tuple[int, int, int]:
    with session_scope(app) as session:
        return (
            session.scalar(select(func.count()).select_from(Location)) or 0,
            session.scalar(select(func.count()).select_from(FocalPoint)) or 0,
            session.scalar(select(func.count()).select_from(FocalPointLocation)) or 0,
        )


def test_locations_import_prints_a_summary(
    gateway_cli: click.Group, env: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "locations.csv"
    path.write_text(PLACES, encoding="utf-8")

    first = run(gateway_cli, "locations", "import", str(path))
    again = run(gateway_cli, "locations", "import", str(path))

    assert first.exit_code == 0, first.output
    assert first.stdout == "3 locations: 3 created, 0 updated, 0 unchanged\n"
    assert again.stdout == "3 locations: 0 created, 0 updated, 3 unchanged\n"
    assert counts(env) == (3, 0, 0)


def test_focal_points_import_prints_a_summary(
    gateway_cli: click.Group, env: Flask, tmp_path: Path
) -> None:
    (tmp_path / "locations.csv").write_text(PLACES, encoding="utf-8")
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    run(gateway_cli, "locations", "import", str(tmp_path / "locations.csv"))

    result = run(gateway_cli, "focal-points", "import", str(tmp_path / "people.csv"))

    assert result.exit_code == 0, result.output
    assert result.stdout == "1 focal point: 1 created, 0 updated, 0 unchanged\n"
    assert counts(env) == (3, 1, 1)


def test_a_bad_file_exits_1_listing_its_lines_and_imports_nothing(
    gateway_cli: click.Group, env: Flask, tmp_path: Path
) -> None:
    (tmp_path / "locations.csv").write_text(PLACES, encoding="utf-8")
    run(gateway_cli, "locations", "import", str(tmp_path / "locations.csv"))
    bad = tmp_path / "people.csv"
    bad.write_text(
        PEOPLE
        + "Bad phone,0701,UNICEF,F,fr,CF52,*,child_protection,primary\n"
        + "Bad place,+23670000012,UNICEF,M,fr,CF99,*,child_protection,backup\n",
        encoding="utf-8",
    )

    result = run(gateway_cli, "focal-points", "import", str(bad))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{bad}: 2 problems, nothing imported:" in result.stderr
    assert "line 3: phone is not in E.164 form (+ and 8-15 digits)" in result.stderr
    assert "line 4: unknown location p-code(s) 'CF99'" in result.stderr
    assert counts(env) == (3, 0, 0)


def test_a_missing_file_is_a_usage_error(gateway_cli: click.Group, env: Flask) -> None:
    result = run(gateway_cli, "locations", "import", "/nonexistent/locations.csv")

    assert result.exit_code == 2
    assert "No such file" in result.stderr


def test_seed_demo_loads_a_demo_deployment_and_twice_changes_nothing(
    gateway_cli: click.Group, env: Flask
) -> None:
    first = run(gateway_cli, "seed-demo")
    assert first.exit_code == 0, first.output
    assert first.stderr == ""  # the demo has triage and conduct desks: nothing to warn about
    loaded = counts(env)
    second = run(gateway_cli, "seed-demo")

    assert second.exit_code == 0, second.output
    assert counts(env) == loaded
    locations, people, services = second.stdout.splitlines()
    assert services.startswith("7 services: 0 created, 0 updated, 7 unchanged")
    assert locations == f"{loaded[0]} locations: 0 created, 0 updated, {loaded[0]} unchanged"
    assert people == f"{loaded[1]} focal points: 0 created, 0 updated, {loaded[1]} unchanged"
    assert first.stdout.splitlines()[0].endswith(f"{loaded[0]} created, 0 updated, 0 unchanged")

    with session_scope(env) as session:
        places = {row.pcode: row for row in session.scalars(select(Location))}
        assert places["CF52"].name == "Ouaka" and places["CF52"].depth == 1
        assert places["CF521"].name == "Bambari" and places["CF521"].parent is places["CF52"]
        assert max(row.depth for row in places.values()) >= 2
        people_rows = list(session.scalars(select(FocalPoint)))
        assert {fp.gender for fp in people_rows} >= {Gender.FEMALE, Gender.MALE}
        assert {fp.level for fp in people_rows} == {Level.PRIMARY, Level.BACKUP}
        national = [fp for fp in people_rows if [loc.pcode for loc in fp.locations] == ["CF"]]
        assert national and national[0].categories == ["*"]
        ouaka = [fp for fp in people_rows if fp.categories == ["recruitment", "abduction"]]
        assert ouaka and [loc.pcode for loc in ouaka[0].locations] == ["CF52"]
        assert ouaka[0].languages == ["fr", "sg"]


def test_seed_demo_refuses_real_provider_credentials(
    gateway_cli: click.Group, env: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AT_USERNAME", "ngo-live")
    monkeypatch.setenv("AT_API_KEY", "live-key")

    refused = run(gateway_cli, "seed-demo")
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert counts(env) == (0, 0, 0)

    monkeypatch.setenv("AT_USERNAME", "sandbox")
    assert run(gateway_cli, "seed-demo").exit_code == 0


def test_seed_demo_refuses_a_phone_that_would_text_the_made_up_numbers(
    gateway_cli: click.Group, env: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSGATE_USERNAME", "sms")
    monkeypatch.setenv("SMSGATE_PASSWORD", "phone-password")
    monkeypatch.setenv("SMSGATE_SIGNING_KEY", "signing-key-0123456789abcdef")
    refused = run(gateway_cli, "seed-demo")
    assert refused.exit_code == 1
    assert "SMSGATE_USERNAME" in refused.stderr and "--force" in refused.stderr
    assert counts(env) == (0, 0, 0)


def test_focal_points_offers_import_with_replace_and_deactivate(gateway_cli: click.Group) -> None:
    group = run(gateway_cli, "focal-points", "--help")
    assert group.exit_code == 0
    assert "import" in group.stdout and "deactivate" in group.stdout
    assert "--replace" in run(gateway_cli, "focal-points", "import", "--help").stdout
    assert "PHONE" in run(gateway_cli, "focal-points", "deactivate", "--help").stdout


def test_the_import_warns_on_stderr_without_failing(
    gateway_cli: click.Group, env: Flask, tmp_path: Path
) -> None:
    (tmp_path / "locations.csv").write_text(PLACES, encoding="utf-8")
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    run(gateway_cli, "locations", "import", str(tmp_path / "locations.csv"))

    result = run(gateway_cli, "focal-points", "import", str(tmp_path / "people.csv"))

    assert result.exit_code == 0
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["warning", "warning"]
    assert "triage role" in result.stderr and "conduct role" in result.stderr
