"""`gateway export cases`: the MRM minimal dataset of alerts only, exact columns, no reporter."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from gateway.commands import export
from gateway.storage.crypto import encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    AgeGroup,
    Case,
    CaseKind,
    Channel,
    Location,
    Outcome,
    Perpetrator,
    Reporter,
    Verification,
)
from tests import deployment
from tests.conftest import TEST_SECRET

HEADER = ("reference,received_date,incident_from,incident_to,place_pcode,place_name,"
          "admin1_name,admin2_name,category,girls,boys,unknown,age_band,perpetrator_type,"
          "urgent,verification,outcome,duplicate_of,hours_to_acknowledgement,hours_to_close")
WORDS = "the commander at the market took them"
PSEUDONYM = "a3f9c2e1b7d6" * 4


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=export.COMMANDS)


def export_cases(group: click.Group, *args: str) -> str:
    result = CliRunner().invoke(group, ["export", "cases", *args])
    assert result.exit_code == 0, result.output
    return result.output


def at(day: int, hour: float = 8.0) -> datetime:
    return datetime(2026, 3, day, tzinfo=UTC) + timedelta(hours=hour)


@pytest.fixture
def cases(make_app: Callable[..., Flask]) -> Flask:
    """Alerts, a complaint, a help request and an unread SMS alert, written straight in."""
    app = make_app()
    deployment.add_places(app)
    with session_scope(app) as session:
        place = {row.pcode: row for row in session.scalars(select(Location))}
        reporter = Reporter(pseudonym=PSEUDONYM)
        session.add(reporter)
        session.flush()

        def add(reference: str, kind: CaseKind = CaseKind.ALERT, **fields: object) -> Case:
            case = Case(reference=reference, kind=kind, channel=Channel.SMS, language="fr",
                        reporter_id=reporter.id, details=encrypt(WORDS, app), **fields)
            session.add(case)
            session.flush()
            return case

        first = add("4000001", category="recruitment", location=place["CF521"],
                    created_at=at(1), incident_from=date(2026, 2, 27),
                    incident_to=date(2026, 2, 28), girls="2-3", boys="unknown",
                    age_group=AgeGroup.UNDER_15, perpetrator=Perpetrator.ARMED_GROUP,
                    urgent=True, verification=Verification.VERIFIED,
                    acknowledged_at=at(1, 9.5), closed_at=at(3, 10), outcome=Outcome.TASK_FORCE)
        add("4000002", category="threat", location=place["CF52"], created_at=at(10),
            girls="unknown", boys="unknown", urgent=None)
        add("4000003", category="recruitment", location=place["CF522"], created_at=at(12),
            girls="0", boys="10+", age_group=AgeGroup.AGED_15_17,
            perpetrator=Perpetrator.STATE_FORCES, urgent=False,
            verification=Verification.VERIFIED, acknowledged_at=at(12, 8.25),
            closed_at=at(12, 20), outcome=Outcome.DUPLICATE, duplicate_of_id=first.id)
        add("4000004", kind=CaseKind.COMPLAINT, category="sexual_exploitation",
            location=place["CF521"], created_at=at(5))
        add("4000005", kind=CaseKind.HELP_REQUEST, category="left_armed_group",
            location=place["CF521"], created_at=at(6))
        add("4000006", category="other", needs_triage=True, created_at=at(7))
        session.commit()
    return app


ROWS = [
    "4000001,2026-03-01,2026-02-27,2026-02-28,CF521,Bambari,Ouaka,Bambari,recruitment,2,0,0,"
    "under_15,armed_group,yes,verified,task_force,,1.5,50.0",
    "4000002,2026-03-10,,,CF52,Ouaka,Ouaka,,threat,0,0,1,,,,unverified,,,,",
    "4000003,2026-03-12,,,CF522,Ippy,Ouaka,Ippy,recruitment,0,10,0,15_17,state_forces,no,"
    "verified,duplicate,4000001,0.2,12.0",
]


def test_the_csv_has_the_exact_columns_and_one_row_per_alert_only(
    cases: Flask, gateway_cli: click.Group
) -> None:
    output = export_cases(gateway_cli, "--format", "csv")
    assert output.splitlines() == [HEADER, *ROWS]
    for secret in (WORDS, "commander", PSEUDONYM, "4000004", "4000005", "4000006",
                   "sexual_exploitation", "left_armed_group"):
        assert secret not in output


def test_json_holds_the_same_content_typed(cases: Flask, gateway_cli: click.Group) -> None:
    rows = json.loads(export_cases(gateway_cli, "--format", "json"))
    assert [list(row) for row in rows] == [HEADER.split(",")] * 3
    assert rows[0]["girls"] == 2 and rows[0]["urgent"] is True and rows[1]["urgent"] is None
    assert rows[0]["hours_to_close"] == 50.0 and rows[1]["outcome"] is None

    def as_csv(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    assert [",".join(as_csv(v) for v in row.values()) for row in rows] == ROWS
    text = json.dumps(rows)
    assert WORDS not in text and PSEUDONYM not in text


def test_since_keeps_the_alerts_received_on_or_after_the_day(
    cases: Flask, gateway_cli: click.Group
) -> None:
    assert export_cases(gateway_cli, "--since", "2026-03-10").splitlines() == [HEADER, *ROWS[1:]]
    assert export_cases(gateway_cli, "--since", "2026-03-11").splitlines() == [HEADER, ROWS[2]]
    assert export_cases(gateway_cli, "--since", "2026-04-01").splitlines() == [HEADER]
    rows = json.loads(export_cases(gateway_cli, "--format", "json", "--since", "2026-03-12"))
    assert [row["reference"] for row in rows] == ["4000003"]
    bad = CliRunner().invoke(gateway_cli, ["export", "cases", "--since", "March"])
    assert bad.exit_code == 2
