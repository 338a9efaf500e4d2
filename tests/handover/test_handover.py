"""`gateway handover`: an organisation leaves, its cases, places and escalations go on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select, update

from gateway.commands import handover, maintenance
from gateway.handover.handover import ACTOR
from gateway.storage.db import session_scope
from gateway.storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    FocalPoint,
    Gender,
    Level,
    OutboxMessage,
    Role,
)
from gateway.storage.redis import connection_url
from tests import deployment
from tests.conftest import TEST_SECRET, StandInAPI
from tests.test_complaints import case_by, complain, move_time, to
from tests.test_follow_up import report
from tests.test_help import ask_for_help
from tests.test_ussd import reference_in

MISSION, PARTNER = "Mission", "Partner NGO"
MISSION_CP, MISSION_BACKUP = "+23670000101", "+23670000102"
MISSION_CONDUCT, MISSION_SERVICES = "+23670000103", "+23670000104"
PARTNER_CP, PARTNER_BACKUP = "+23670000201", "+23670000202"
PARTNER_CONDUCT, PARTNER_COORDINATOR = "+23670000203", "+23670000204"
MINUTE = 60


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, redis_connection: Redis,
                monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The handover commands and `purge`, their settings pointing at the test database and Redis."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("REDIS_URL", connection_url(redis_connection))
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=[*handover.COMMANDS, *maintenance.COMMANDS])


def run(group: click.Group, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(group, list(args), input=stdin)


def point(app: Flask, organisation: str, name: str, phone: str, pcodes: Sequence[str],
          **options: object) -> int:
    """Write a focal point of an organisation; its id."""
    point_id = deployment.add_focal_point(app, name=name, phone=phone, pcodes=pcodes,
                                          **options)  # type: ignore[arg-type]
    with session_scope(app) as session:
        session.execute(update(FocalPoint).where(FocalPoint.id == point_id)
                        .values(organisation=organisation))
        session.commit()
    return point_id


def mission(app: Flask) -> None:
    """The mission that leaves: child protection, conduct and services in Ouaka."""
    deployment.add_places(app)
    point(app, MISSION, "Mission CP", MISSION_CP, ["CF52"])
    point(app, MISSION, "Mission backup", MISSION_BACKUP, ["CF52"], level=Level.BACKUP)
    point(app, MISSION, "Mission conduct", MISSION_CONDUCT, ["CF52"], role=Role.CONDUCT)
    point(app, MISSION, "Mission services", MISSION_SERVICES, ["CF52"], role=Role.SERVICES,
          gender=Gender.MALE)


def partner(app: Flask, *, conduct: bool = True) -> None:
    """The partner taking over (arrived after the cases were routed): child protection and a
    coordinator in Ouaka, conduct nationally."""
    point(app, PARTNER, "Partner CP", PARTNER_CP, ["CF52"])
    point(app, PARTNER, "Partner backup", PARTNER_BACKUP, ["CF52"], level=Level.BACKUP)
    point(app, PARTNER, "Partner coordinator", PARTNER_COORDINATOR, ["CF52"],
          role=Role.COORDINATOR)
    if conduct:
        point(app, PARTNER, "Partner conduct", PARTNER_CONDUCT, ["CF"], role=Role.CONDUCT)


def snapshot(app: Flask) -> dict[str, object]:
    """What a handover would change: who is active, the outbox, events, audit, statuses."""
    with session_scope(app) as session:
        return {
            "active": sorted(session.scalars(select(FocalPoint.phone)
                                             .where(FocalPoint.active.is_(True)))),
            "outbox": session.scalar(select(func.count(OutboxMessage.id))),
            "events": session.scalar(select(func.count(CaseEvent.id))),
            "audit": session.scalar(select(func.count(AuditEntry.id))),
            "statuses": sorted(session.scalars(select(Case.status))),
        }


def test_open_cases_and_coverage_move_and_what_finds_no_one_is_listed(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    mission(app)
    alert = report(client, sms_later=False)
    help_request = reference_in(ask_for_help(client))
    complaint = reference_in(complain(client, help_now="No", phone="+243970003333"))
    closed = reference_in(complain(client, help_now="No", phone="+243970004444"))
    run_jobs()
    partner(app)
    with session_scope(app) as session:
        session.execute(update(Case).where(Case.reference == closed)
                        .values(closed_at=func.now()))
        session.commit()
    assert len(to(at_api, MISSION_CP)) == 1 and len(to(at_api, MISSION_SERVICES)) == 1

    result = run(gateway_cli, "handover", "--from-organisation", MISSION,
                 "--to-organisation", PARTNER)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "focal points of Mission deactivated: 4" in out
    assert "open cases: 3; handed over: 2; finding no one for some role: 1" in out
    assert f"case {alert} -> Partner CP (child_protection)" in out
    assert f"case {complaint} -> Partner conduct (conduct)" in out
    # Nobody of the partner gives services: the case and the place are listed, not dropped.
    assert "Finds no one (listed, not dropped):" in out
    assert f"case {help_request}: role services; no active recipient left: unassigned" in out
    assert "place CF52 Ouaka, role services: *" in out
    assert "place CF52 Ouaka, role child_protection -> Partner CP (CF52), Partner backup" in out
    assert closed not in out

    run_jobs()  # the new alerts go out after the commit
    [moved] = to(at_api, PARTNER_CP)
    assert moved.startswith(f"URGENT child alert {alert}")
    [complaint_sms] = to(at_api, PARTNER_CONDUCT)
    assert f"Conduct complaint {complaint}" in complaint_sms
    assert to(at_api, PARTNER_COORDINATOR) == []  # a complaint never leaves its role
    assert len(to(at_api, MISSION_CP)) == 1  # nothing more to the mission
    with session_scope(app) as session:
        assert not any(session.scalars(select(FocalPoint.active)
                                       .where(FocalPoint.organisation == MISSION)))
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert sorted(entry.case_reference for entry in audit) == sorted(
            [alert, help_request, complaint])  # one per case, none for the closed one
        assert {(entry.user_email, entry.user_id, entry.action) for entry in audit} == {
            (ACTOR, None, "handover")}
        handed = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == CaseEventKind.HANDED_OVER)).all()
        assert len(handed) == 3
        assert all(event.detail["from"] == MISSION and event.detail["to"] == PARTNER
                   for event in handed)
    assert case_by(app, help_request).status == CaseStatus.UNASSIGNED
    assert case_by(app, alert).status == CaseStatus.ROUTED

    # A new alert in Ouaka now reaches the partner: the coverage moved with the mission gone.
    report(client, sms_later=False)
    run_jobs()
    assert len(to(at_api, PARTNER_CP)) == 2 and len(to(at_api, MISSION_CP)) == 1


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    mission(app)
    alert = report(client, sms_later=False)
    run_jobs()
    partner(app)
    before = snapshot(app)
    result = run(gateway_cli, "handover", "--from-organisation", MISSION,
                 "--to-organisation", PARTNER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "(dry run: nothing changed)" in result.output
    assert f"case {alert} -> Partner CP (child_protection)" in result.output
    assert "place CF52 Ouaka, role services: *" in result.output
    run_jobs()
    assert snapshot(app) == before
    assert to(at_api, PARTNER_CP) == []


def test_a_handover_that_would_strand_complaints_is_refused_and_names_the_places(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    mission(app)
    point(app, MISSION, "Mission conduct Bria", "+23670000105", ["CF611"], role=Role.CONDUCT)
    # Another organisation keeps the complaint path in Haute-Kotto: Bria is not bare.
    point(app, "UNHCR", "UNHCR conduct", "+23670000301", ["CF61"], role=Role.CONDUCT)
    report(client, sms_later=False)
    run_jobs()
    partner(app, conduct=False)
    before = snapshot(app)
    for extra in ([], ["--dry-run"]):
        result = run(gateway_cli, "handover", "--from-organisation", MISSION,
                     "--to-organisation", PARTNER, *extra)
        assert result.exit_code == 1, result.output
        assert "Refused, nothing changed" in result.output
        assert "CF52 Ouaka, role conduct: *" in result.output
        assert "CF611" not in result.output.split("Refused")[1]
    run_jobs()
    assert snapshot(app) == before
    assert to(at_api, PARTNER_CP) == []


def test_a_moved_case_still_escalates_to_the_new_organisations_backup_then_coordinator(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    mission(app)
    alert = report(client, sms_later=False)  # urgent: 30 minutes to acknowledge
    run_jobs()
    partner(app)
    move_time(app, 10 * MINUTE)
    run_jobs()
    result = run(gateway_cli, "handover", "--from-organisation", MISSION,
                 "--to-organisation", PARTNER)
    assert result.exit_code == 0, result.output
    assert "pending escalations kept armed: 1" in result.output
    run_jobs()
    assert len(to(at_api, PARTNER_CP)) == 1
    move_time(app, 31 * MINUTE)
    run_jobs()
    [backup] = to(at_api, PARTNER_BACKUP)
    assert backup.startswith(f"Not acknowledged yet. URGENT child alert {alert}")
    assert to(at_api, MISSION_BACKUP) == []
    move_time(app, 31 * MINUTE)
    run_jobs()
    assert len(to(at_api, PARTNER_COORDINATOR)) == 1
    assert case_by(app, alert).escalation_stage == 2


def test_a_survivor_who_agreed_to_a_call_reaches_the_new_victim_assistance(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    mission(app)
    point(app, MISSION, "Mission assistance", "+23670000106", ["CF52"], role=Role.ASSISTANCE)
    survivor = "+243970008888"
    reference = reference_in(complain(client, help_now="No", contact="evening", phone=survivor))
    run_jobs()
    assert any(survivor in sms for sms in to(at_api, "+23670000106"))
    partner(app)
    point(app, PARTNER, "Partner assistance", "+23670000206", ["CF"], role=Role.ASSISTANCE)
    result = run(gateway_cli, "handover", "--from-organisation", MISSION,
                 "--to-organisation", PARTNER)
    assert result.exit_code == 0, result.output
    assert (f"case {reference} -> Partner assistance (assistance), Partner conduct (conduct)"
            in result.output)
    run_jobs()
    received = to(at_api, "+23670000206")
    assert len(received) == 2 and sum(survivor in sms for sms in received) == 1
    assert not any(survivor in sms for sms in to(at_api, PARTNER_CONDUCT))


def test_unknown_or_identical_organisations_are_refused(
    app: Flask, gateway_cli: click.Group,
) -> None:
    mission(app)
    partner(app)
    for source, target in ((MISSION, MISSION), ("Nobody", PARTNER), (MISSION, "Nobody")):
        result = run(gateway_cli, "handover", "--from-organisation", source,
                     "--to-organisation", target)
        assert result.exit_code == 1, result.output
    with session_scope(app) as session:
        assert all(session.scalars(select(FocalPoint.active)))
