"""A focal point who left: `focal-points import --replace` and `focal-points deactivate`.

Through the real command, the real webhooks and the real jobs: a deactivated focal point receives
nothing, may act on nothing, and an SMS queued for them before is not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.commands import data
from gateway.storage.db import session_scope
from gateway.storage.models import (
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    FocalPoint,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from tests import deployment
from tests.conftest import StandInAPI
from tests.test_cli_data import SECRET, run
from tests.test_complaints import CONDUCT_PHONE, case_by, complain, to
from tests.test_sms import Phone
from tests.test_ussd import reference_in
from workers.routing import route_case

NATIONAL_CONDUCT_PHONE = "+23670000022"
TRIAGE_PHONE = "+23670000099"
HEADER = "name,phone,organisation,gender,languages,locations,categories,role,level\n"
CONDUCT_OUAKA = "Conduct Ouaka,+23670000021,OIOS,F,en,CF52,*,conduct,primary\n"
OTHERS = (
    "Ouaka CP,+23670000011,UNICEF,F,en,CF52,*,child_protection,primary\n"
    "National CP,+23670000001,UNICEF,M,fr,CF,*,child_protection,primary\n"
    "Conduct national,+23670000022,OIOS,F,en,CF,*,conduct,primary\n"
    "Triage desk,+23670000099,UNICEF,F,en,CF,*,triage,primary\n"
)
ROSTER = HEADER + CONDUCT_OUAKA + OTHERS
WITHOUT_CONDUCT_OUAKA = HEADER + OTHERS


@pytest.fixture
def gateway(
    app: Flask, schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> click.Group:
    """The data commands, on the test database the app (SMS to the stand-in) also uses."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    for name in ("AT_USERNAME", "AT_API_KEY", "AT_API_URL", "AT_SENDER_ID"):
        monkeypatch.delenv(name, raising=False)
    deployment.add_places(app)
    return click.Group("gateway", commands=data.COMMANDS)


def load(gateway: click.Group, tmp_path: Path, text: str, *options: str) -> Result:
    """Run `gateway focal-points import [options] FILE` on a file holding text."""
    path = tmp_path / "focal_points.csv"
    path.write_text(text, encoding="utf-8")
    return run(gateway, "focal-points", "import", *options, str(path))


def active(app: Flask) -> dict[tuple[str, Role], bool]:
    with session_scope(app) as session:
        return {(fp.name, fp.role): fp.active for fp in session.scalars(select(FocalPoint))}


def test_replace_deactivates_whoever_the_file_leaves_out_and_names_them(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    assert load(gateway, tmp_path, ROSTER).exit_code == 0
    # Without --replace, as before: a file that leaves someone out adds and updates only.
    plain = load(gateway, tmp_path, WITHOUT_CONDUCT_OUAKA)
    assert plain.stdout == "4 focal points: 0 created, 0 updated, 4 unchanged\n"
    assert active(app)[("Conduct Ouaka", Role.CONDUCT)] is True

    replaced = load(gateway, tmp_path, WITHOUT_CONDUCT_OUAKA, "--replace")

    assert replaced.exit_code == 0, replaced.output
    assert replaced.stdout == (
        "4 focal points: 0 created, 0 updated, 4 unchanged, 1 deactivated\n"
        "deactivated: Conduct Ouaka (conduct)\n"
    )
    assert replaced.stderr == ""  # triage and conduct everywhere: nothing to warn about
    assert not any(ch.isdigit() for ch in replaced.stdout.splitlines()[1])  # never the number
    people = active(app)
    assert people.pop(("Conduct Ouaka", Role.CONDUCT)) is False
    assert all(people.values()) and len(people) == 4
    # Again: nobody left to deactivate, and nothing else changes.
    again = load(gateway, tmp_path, WITHOUT_CONDUCT_OUAKA, "--replace")
    assert again.stdout == "4 focal points: 0 created, 0 updated, 4 unchanged, 0 deactivated\n"


def test_after_replace_a_complaint_never_reaches_the_one_who_left_and_their_ok_does_nothing(
    app: Flask, gateway: click.Group, tmp_path: Path, client: FlaskClient, at_api: StandInAPI,
    run_jobs: Callable[..., None],
) -> None:
    load(gateway, tmp_path, ROSTER)
    before = reference_in(complain(client, help_now="No", phone="+243970001001"))
    run_jobs()
    [received] = to(at_api, CONDUCT_PHONE)
    assert before in received and to(at_api, NATIONAL_CONDUCT_PHONE) == []

    assert load(gateway, tmp_path, WITHOUT_CONDUCT_OUAKA, "--replace").exit_code == 0
    after = reference_in(complain(client, help_now="No", phone="+243970001002"))
    run_jobs()

    assert to(at_api, CONDUCT_PHONE) == [received]
    [national] = to(at_api, NATIONAL_CONDUCT_PHONE)
    assert national.startswith(f"URGENT: Conduct complaint {after}")
    # Their OK, even on the case they did receive, gets a stranger's answer and changes nothing.
    left = Phone(client, at_api, run_jobs, number=CONDUCT_PHONE)
    left.seen = 1
    for reference in (before, after):
        assert left.send(f"OK {reference}") == f"Aucune action pour {reference}."
        assert left.send(f"DONE {reference}") == f"Aucune action pour {reference}."
        case = case_by(app, reference)
        assert case.acknowledged_at is None and case.closed_at is None
    with session_scope(app) as session:
        refused = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == CaseEventKind.UNAUTHORISED_COMMAND)).all()
        assert len(refused) == 4
        assert {event.detail["sender"] for event in refused} == {"not a focal point"}


def test_a_message_queued_before_deactivation_is_not_sent_and_escalation_moves_on(
    app: Flask, gateway: click.Group, tmp_path: Path, client: FlaskClient, at_api: StandInAPI,
    run_jobs: Callable[..., None],
) -> None:
    load(gateway, tmp_path, ROSTER)
    reference = reference_in(complain(client, help_now="No"))
    case = case_by(app, reference)
    assert case.status == CaseStatus.NEW
    with app.app_context():
        route_case(case.id)  # the routing job: the SMS to Conduct Ouaka is queued
    with session_scope(app) as session:
        [queued] = session.scalars(select(OutboxMessage)).all()
        assert queued.status == OutboxStatus.QUEUED and queued.focal_point.name == "Conduct Ouaka"
        queued_id = queued.id

    left = run(gateway, "focal-points", "deactivate", "+236 7000 0021")
    assert left.exit_code == 0, left.output
    assert left.stdout == "deactivated: Conduct Ouaka (conduct)\n"
    run_jobs()

    assert to(at_api, CONDUCT_PHONE) == []
    with session_scope(app) as session:
        row = session.get(OutboxMessage, queued_id)
        assert row is not None
        assert (row.status, row.last_error, row.attempts) == (
            OutboxStatus.FAILED, "recipient deactivated", 0)
        [failed] = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.SMS_FAILED)).all()
        assert failed.detail["reason"] == "recipient deactivated"
    # Not reached, as after a failed delivery: the next stage went out at once.
    [escalated] = to(at_api, NATIONAL_CONDUCT_PHONE)
    assert reference in escalated
    assert case_by(app, reference).escalation_stage == 1


def test_deactivate_takes_every_role_of_a_number_and_says_clearly_when_it_cannot(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    second_role = "Conduct Ouaka,+236 7000 0021,OIOS,F,en,CF52,*,triage,backup\n"
    load(gateway, tmp_path, ROSTER + second_role)

    done = run(gateway, "focal-points", "deactivate", "+23670000021")

    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "deactivated: Conduct Ouaka (conduct)\ndeactivated: Conduct Ouaka (triage)\n"
    )
    assert done.stderr == ""
    people = active(app)
    assert not people[("Conduct Ouaka", Role.CONDUCT)] and not people[("Conduct Ouaka",
                                                                      Role.TRIAGE)]
    assert sum(people.values()) == 4

    for phone, reason in (
        ("+23670000021", "no active focal point has that number"),  # deactivated already
        ("+23670009999", "no active focal point has that number"),
        ("0701 000 021", "phone is not in E.164 form (+ and 8-15 digits)"),
    ):
        refused = run(gateway, "focal-points", "deactivate", phone)
        assert refused.exit_code == 1
        assert refused.stdout == ""
        assert refused.stderr.startswith("Nothing deactivated: ") and reason in refused.stderr
        assert "000021" not in refused.stderr and "9999" not in refused.stderr
    assert sum(active(app).values()) == 4


def test_deactivating_the_last_triage_focal_point_warns(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    load(gateway, tmp_path, ROSTER)

    result = run(gateway, "focal-points", "deactivate", TRIAGE_PHONE)

    assert result.exit_code == 0
    assert result.stdout == "deactivated: Triage desk (triage)\n"
    assert result.stderr.startswith("warning: no active focal point has the triage role")


def test_importing_the_person_again_reactivates_them(
    app: Flask, gateway: click.Group, tmp_path: Path, client: FlaskClient, at_api: StandInAPI,
    run_jobs: Callable[..., None],
) -> None:
    load(gateway, tmp_path, ROSTER)
    load(gateway, tmp_path, WITHOUT_CONDUCT_OUAKA, "--replace")
    assert active(app)[("Conduct Ouaka", Role.CONDUCT)] is False

    back = load(gateway, tmp_path, ROSTER)

    assert back.stdout == "5 focal points: 0 created, 1 updated, 4 unchanged\n"
    assert active(app)[("Conduct Ouaka", Role.CONDUCT)] is True
    reference = reference_in(complain(client, help_now="No"))
    run_jobs()
    [received] = to(at_api, CONDUCT_PHONE)
    assert received.startswith(f"URGENT: Conduct complaint {reference}")
    # And after `deactivate`, a whole-roster import that lists them brings them back too.
    run(gateway, "focal-points", "deactivate", CONDUCT_PHONE)
    again = load(gateway, tmp_path, ROSTER, "--replace")
    assert again.stdout == "5 focal points: 0 created, 1 updated, 4 unchanged, 0 deactivated\n"
    assert all(active(app).values())


def test_a_bad_row_makes_replace_change_nothing(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    load(gateway, tmp_path, ROSTER)
    bad = WITHOUT_CONDUCT_OUAKA + "Bad place,+23670000051,UNICEF,F,en,CF99,*,conduct,primary\n"

    result = load(gateway, tmp_path, bad, "--replace")

    assert result.exit_code == 1 and result.stdout == ""
    assert "1 problem, nothing imported:" in result.stderr
    assert "line 6: unknown location p-code(s) 'CF99'" in result.stderr
    assert all(active(app).values()) and len(active(app)) == 5


def test_replace_refuses_a_file_without_anyone(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    load(gateway, tmp_path, ROSTER)

    result = load(gateway, tmp_path, HEADER, "--replace")

    assert result.exit_code == 1 and result.stdout == ""
    assert "line 1: the file lists no focal point" in result.stderr
    assert all(active(app).values())
    # Without --replace an empty roster still adds nothing and changes nothing.
    assert load(gateway, tmp_path, HEADER).stdout == (
        "0 focal points: 0 created, 0 updated, 0 unchanged\n"
    )


def test_the_import_warns_of_no_triage_and_of_areas_without_complaints_coverage(
    app: Flask, gateway: click.Group, tmp_path: Path
) -> None:
    cp_only = HEADER + OTHERS.splitlines(keepends=True)[0]
    nobody = load(gateway, tmp_path, cp_only)
    assert nobody.exit_code == 0
    assert nobody.stdout == "1 focal point: 1 created, 0 updated, 0 unchanged\n"
    assert nobody.stderr.splitlines() == [
        "warning: no active focal point has the triage role: an SMS no flow understands reaches "
        "nobody unless a focal point covers its sender's last known place",
        "warning: no active focal point has the conduct role: complaints about personnel "
        "reach nobody",
    ]

    national_to_bria = ROSTER.replace("OIOS,F,en,CF,*,conduct", "OIOS,F,en,CF61,*,conduct")
    ouaka_only = load(gateway, tmp_path, national_to_bria, "--replace")
    assert ouaka_only.exit_code == 0
    assert ouaka_only.stderr == (
        "warning: complaints about personnel from 2 areas reach no active conduct focal point: "
        "Central African Republic (CF) itself, Bangui (CF11)\n"
    )
    assert load(gateway, tmp_path, ROSTER).stderr == ""
