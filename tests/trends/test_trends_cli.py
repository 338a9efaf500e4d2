"""`gateway trends`: the exact header, small cells printed <5, never a complaint, and the
options it refuses."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask

from gateway.commands import trends
from gateway.storage.models import CaseKind
from tests import deployment
from tests.conftest import TEST_SECRET
from tests.trends.test_trends import add_case

HEADER = "place_pcode,place_name,category,month,cases,girls,boys,unknown"
COUNTS = ("cases", "girls", "boys", "unknown")


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The trends command, its settings pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=trends.COMMANDS)


@pytest.fixture
def places(make_app: Callable[..., Flask]) -> Flask:
    app = make_app()
    deployment.standard(app)
    return app


def run(group: click.Group, *args: str) -> Result:
    return CliRunner().invoke(group, ["trends", *args])


def rows_of(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def assert_no_small_cell(rows: list[dict[str, str]], threshold: int) -> None:
    """Every count printed is 0, the threshold or more, or <threshold: never 1 to N-1."""
    for row in rows:
        for column in COUNTS:
            value = row[column]
            assert value == f"<{threshold}" or value == "0" or int(value) >= threshold, row


def test_prints_the_header_then_rows_with_small_counts_hidden(
    places: Flask, gateway_cli: click.Group,
) -> None:
    january = datetime(2026, 1, 10, tzinfo=UTC)
    for _ in range(6):  # Bambari, January: 6 alerts, 2 girls each, no boys
        add_case(places, "CF521", created_at=january, girls="2-3", boys="0")
    add_case(places, "CF522", created_at=january, girls="1", boys="2-3")  # Ippy: 1 alert
    add_case(places, "CF611", category="abduction", created_at=datetime(2026, 2, 3, tzinfo=UTC),
             girls="unknown", boys="unknown")
    result = run(gateway_cli, "--level", "1", "--period", "month", "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == HEADER
    assert lines[1:] == [
        "CF52,Ouaka,recruitment,2026-01,7,13,<5,0",
        "CF61,Haute-Kotto,abduction,2026-02,<5,0,0,<5",
    ]
    level2 = run(gateway_cli, "--level", "2")
    assert level2.exit_code == 0, level2.output
    assert level2.output.splitlines()[1:] == [
        "CF521,Bambari,recruitment,2026-01,6,12,0,0",
        "CF522,Ippy,recruitment,2026-01,<5,<5,<5,0",
        "CF611,Bria,abduction,2026-02,<5,0,0,<5",
    ]
    assert_no_small_cell(rows_of(level2.output), 5)


def test_no_cell_from_1_to_4_is_ever_printed(places: Flask, gateway_cli: click.Group) -> None:
    categories = ("recruitment", "abduction", "killing")
    pcodes = ("CF521", "CF522", "CF611", "CF11", None)
    for index in range(40):  # cells of every size from 1 up, girls and boys of every kind
        add_case(places, pcodes[index % 5], category=categories[index % 3],
                 created_at=datetime(2026, 1 + index % 2, 5, tzinfo=UTC),
                 girls=("0", "1", "2-3", "unknown")[index % 4],
                 boys=("1", "0", "unknown", "4-9", "10+")[index % 5])
    for level in ("1", "2"):
        result = run(gateway_cli, "--level", level)
        assert result.exit_code == 0, result.output
        rows = rows_of(result.output)
        assert rows and "<5" in result.output
        assert_no_small_cell(rows, 5)
    # The alerts with no place: their own row, an empty p-code.
    assert any(row["place_pcode"] == "" and row["place_name"] == "not known" for row in rows)


def test_complaints_never_appear_even_when_they_outnumber_alerts(
    places: Flask, gateway_cli: click.Group,
) -> None:
    for _ in range(5):
        add_case(places, "CF521")
    for _ in range(9):
        add_case(places, "CF521", kind=CaseKind.COMPLAINT, category="sexual_violence")
        add_case(places, "CF521", kind=CaseKind.COMPLAINT)
        add_case(places, "CF522", kind=CaseKind.COMPLAINT, category="other")
        add_case(places, "CF521", kind=CaseKind.HELP_REQUEST)
    result = run(gateway_cli, "--level", "2")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["CF521,Bambari,recruitment,2026-01,5,5,0,0"]
    assert "sexual_violence" not in result.output and "CF522" not in result.output


def test_the_threshold_can_be_raised_or_lowered_to_3_never_below(
    places: Flask, gateway_cli: click.Group,
) -> None:
    for _ in range(3):
        add_case(places, "CF521", girls="1", boys="0")
    add_case(places, "CF522", girls="2-3", boys="0")
    three = run(gateway_cli, "--level", "2", "--suppress", "3")
    assert three.exit_code == 0, three.output
    assert three.output.splitlines()[1:] == [
        "CF521,Bambari,recruitment,2026-01,3,3,0,0",
        "CF522,Ippy,recruitment,2026-01,<3,<3,0,0",
    ]
    assert_no_small_cell(rows_of(three.output), 3)
    ten = run(gateway_cli, "--level", "1", "--suppress", "10")
    assert ten.output.splitlines()[1:] == ["CF52,Ouaka,recruitment,2026-01,<10,<10,0,0"]
    for low in ("2", "1", "0", "-5"):
        refused = run(gateway_cli, "--suppress", low)
        assert refused.exit_code == 2, refused.output
        assert "at least 3" in refused.output
        assert "recruitment" not in refused.output


def test_other_periods_and_formats_are_refused_and_json_has_the_same_rows(
    places: Flask, gateway_cli: click.Group,
) -> None:
    for _ in range(5):
        add_case(places, "CF521")
    add_case(places, "CF611")
    for args in (("--period", "week"), ("--period", "year"), ("--format", "xlsx"),
                 ("--level", "0")):
        refused = run(gateway_cli, *args)
        assert refused.exit_code == 2, refused.output
        assert "Invalid value" in refused.output
    as_json = run(gateway_cli, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [
        {"place_pcode": "CF52", "place_name": "Ouaka", "category": "recruitment",
         "month": "2026-01", "cases": 5, "girls": 5, "boys": 0, "unknown": 0},
        {"place_pcode": "CF61", "place_name": "Haute-Kotto", "category": "recruitment",
         "month": "2026-01", "cases": "<5", "girls": "<5", "boys": 0, "unknown": 0},
    ]


def test_with_no_alert_only_the_header(places: Flask, gateway_cli: click.Group) -> None:
    add_case(places, "CF521", kind=CaseKind.COMPLAINT)
    result = run(gateway_cli)
    assert result.exit_code == 0, result.output
    assert result.output == HEADER + "\n"
