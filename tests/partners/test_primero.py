"""The push of alerts to Primero, against a local server that answers as Primero's API v2 does."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from gateway.cases import actions
from gateway.commands import primero as primero_commands
from gateway.config import PRIMERO_MAPPING, load_config
from gateway.desk.accounts import create_user
from gateway.errors import ConfigError
from gateway.partners.mrm import tally
from gateway.partners.primero import push_after_commit, request_push, request_push_if_due
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    Channel,
    Outcome,
    PrimeroPush,
    PushStatus,
    Reporter,
    Verification,
)
from gateway.storage.redis import connection_url
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, TEST_SECRET, StandInAPI
from tests.desk.conftest import PASSWORD as DESK_PASSWORD
from tests.desk.conftest import login, post
from tests.partners.primero_standin import PASSWORD, USER, StandInPrimero, running
from tests.test_complaints import complain, move_time, with_conduct
from tests.test_follow_up import CALLER, report
from tests.test_help import ask_for_help
from tests.test_sms import REPORTER, Phone
from tests.test_ussd import reference_in
from workers import queues
from workers.primero import push_case

DESK = actions.Actor(by="user:7", role="child_protection", user_id=7)
INCIDENTS = "/api/v2/incidents"
SMS_WORDS = "Deux filles emmenées au marché par des hommes armés"


@pytest.fixture
def primero() -> Iterator[StandInPrimero]:
    with running() as stand_in:
        yield stand_in


def settings(primero: StandInPrimero, **more: object) -> dict[str, object]:
    return {"PRIMERO_URL": primero.url, "PRIMERO_USER": USER, "PRIMERO_PASSWORD": PASSWORD,
            "PRIMERO_MAPPING": str(PRIMERO_MAPPING), "PRIMERO_RETRY_DELAYS": [1.0, 2.0],
            **more}


@pytest.fixture
def app(make_app: Callable[..., Flask], at_api: StandInAPI, primero: StandInPrimero) -> Flask:
    """The conftest's app, pushing to the stand-in Primero."""
    return make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                    AT_SENDER_ID="ALERTS", **settings(primero))


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, redis_connection: Redis, primero: StandInPrimero,
                monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The primero commands, their settings pointing at the test database, Redis, stand-in."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("REDIS_URL", connection_url(redis_connection))
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GATEWAY_PRIMERO_URL", primero.url)
    monkeypatch.setenv("GATEWAY_PRIMERO_USER", USER)
    monkeypatch.setenv("GATEWAY_PRIMERO_PASSWORD", PASSWORD)
    return click.Group("gateway", commands=primero_commands.COMMANDS)


def run(group: click.Group, *args: str) -> Result:
    return CliRunner().invoke(group, list(args))


def the_case(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.expunge(case)
        return case


def on_desk(app: Flask, reference: str, *, verify: bool = False,
            task_force: bool = False) -> bool:
    """Do what the desk does: the action, request_push_if_due, commit, push_after_commit."""
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        if verify:
            actions.set_verification(session, case, DESK, Verification.VERIFIED)
        if task_force:
            actions.close(app, session, case, DESK, Outcome.TASK_FORCE)
        queue = request_push_if_due(app, session, case, DESK.by)
        session.commit()
        case_id = case.id
    return queue and push_after_commit(app, case_id)


def push_row(app: Flask, reference: str) -> PrimeroPush:
    with session_scope(app) as session:
        row = session.scalar(select(PrimeroPush).join(Case).where(Case.reference == reference))
        assert row is not None
        session.expunge(row)
        return row


def events(app: Flask, reference: str, *kinds: CaseEventKind) -> list[dict[str, object]]:
    with session_scope(app) as session:
        return [event.detail for event in session.scalars(
            select(CaseEvent).join(Case).where(Case.reference == reference,
                                               CaseEvent.kind.in_(kinds))
            .order_by(CaseEvent.id))]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_verified_alert_is_created_in_primero_with_basic_auth_and_coded_fields_only(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    # Today, Bambari, an armed group, the youngest under 15, two or three girls, no boys.
    reference = report(client, sms_later=False)
    run_jobs()
    assert primero.requests == []  # received is not verified: nothing goes
    assert on_desk(app, reference, verify=True)
    run_jobs()
    assert primero.calls() == [("POST", INCIDENTS)]
    [sent] = primero.requests
    assert sent["authorization"] == basic(USER, PASSWORD)
    row = push_row(app, reference)
    assert (row.status, row.status_code, row.attempts) == (PushStatus.PUSHED, 204, 1)
    assert row.incident_id == str(uuid.UUID(row.incident_id)) and row.requested_by == "user:7"
    incident = row.incident_id
    violation = str(uuid.uuid5(uuid.UUID(incident), "recruitment"))
    today = datetime.now(UTC).date().isoformat()
    assert sent["json"] == {"data": {
        "id": incident,
        "module_id": "primeromodule-mrm",
        "incident_date": today,
        "incident_location": "CF521",
        "date_of_first_report": today,
        "violation_category": ["recruitment"],
        "recruitment": [{
            "unique_id": violation,
            "violation_tally": {"boys": 0, "girls": 2, "unknown": 0, "total": 2},
            "ctfmr_verified": "verified",
        }],
        "perpetrators": [{"unique_id": str(uuid.uuid5(uuid.UUID(incident), "perpetrator")),
                          "violations_ids": [violation], "perpetrator_category": "armed_group"}],
        "group_victims": [{"unique_id": str(uuid.uuid5(uuid.UUID(incident), "group_victims")),
                           "violations_ids": [violation], "group_age_band": ["0_14"]}],
    }}
    assert incident in primero.incidents
    assert events(app, reference, CaseEventKind.PRIMERO_PUSHED) == [
        {"incident_id": incident, "status_code": 204, "requested_by": "user:7", "how": "created"}
    ]
    # The job runs again (a duplicate, a retry after a crash): nothing more is sent.
    with app.app_context():
        push_case(the_case(app, reference).id)
    assert len(primero.requests) == 1


def test_a_second_push_of_a_changed_case_is_a_409_then_a_patch_and_one_job(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    run_jobs()
    pushed = run(gateway_cli, "primero", "push", reference)
    assert pushed.exit_code == 0, pushed.output
    incident = push_row(app, reference).incident_id
    assert pushed.output.strip() == f"case {reference} queued for Primero (incident {incident})"
    run_jobs()
    assert primero.incidents[incident]["recruitment"][0]["ctfmr_verified"] == (
        "report_pending_verification")
    # Verified, then closed as reported to the task force before any worker ran: one job.
    assert on_desk(app, reference, verify=True)
    assert on_desk(app, reference, task_force=True)
    run_jobs()
    assert primero.calls() == [("POST", INCIDENTS), ("POST", INCIDENTS),
                               ("PATCH", f"{INCIDENTS}/{incident}")]
    patch = primero.requests[-1]["json"]["data"]
    assert "id" not in patch and patch["module_id"] == "primeromodule-mrm"
    assert primero.incidents[incident]["recruitment"][0]["ctfmr_verified"] == "verified"
    assert push_row(app, reference).status == PushStatus.PUSHED
    assert [e["how"] for e in events(app, reference, CaseEventKind.PRIMERO_PUSHED)] == [
        "created", "updated"]
    assert {r["authorization"] for r in primero.requests} == {basic(USER, PASSWORD)}


def test_a_422_is_kept_on_the_push_and_as_a_case_event(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    run_jobs()
    primero.script.append(primero.refuse(["/incident_location", "/recruitment/0/ctfmr_verified"]))
    on_desk(app, reference, verify=True)
    run_jobs()
    row = push_row(app, reference)
    assert (row.status, row.status_code) == (PushStatus.REFUSED, 422)
    assert row.errors == ["/incident_location", "/recruitment/0/ctfmr_verified"]
    [refused] = events(app, reference, CaseEventKind.PRIMERO_REFUSED)
    assert refused["status"] == "refused" and refused["errors"] == row.errors
    assert primero.incidents == {}
    status = run(gateway_cli, "primero", "status").output
    assert ("refused: 1\n"
            f"  {reference}  incident {row.incident_id}  HTTP 422  fields: /incident_location, "
            "/recruitment/0/ctfmr_verified\n") in status
    # Nothing is retried: a person must correct the mapping or the case.
    move_time(app, 86400)
    run_jobs()
    assert len(primero.requests) == 1


def scheduled(app: Flask) -> dict[str, float]:
    """The Primero jobs on RQ's scheduler, with the seconds until each is due."""
    now = time.time()
    found = {}
    for name in queues.ALL:
        registry = ScheduledJobRegistry(name, connection=app.extensions["redis"])
        for job_id in registry.get_job_ids():
            if job_id.startswith("primero-"):
                found[job_id] = registry.get_scheduled_time(job_id).timestamp() - now
    return found


def test_a_503_is_retried_after_its_retry_after_then_pushed(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    run_jobs()
    primero.script.append(primero.unavailable(retry_after="120"))
    on_desk(app, reference, verify=True)
    run_jobs()
    row = push_row(app, reference)
    assert (row.status, row.status_code, row.attempts) == (PushStatus.PENDING, 503, 1)
    case_id = the_case(app, reference).id
    [(job_id, due_in)] = scheduled(app).items()
    assert job_id == f"primero-{case_id}-r1" and 100 < due_in <= 120  # not the 1 s delay
    # Asked again while the retry waits: the retry is the one job.
    on_desk(app, reference, task_force=True)
    move_time(app, 60)
    run_jobs()
    assert len(primero.requests) == 1
    move_time(app, 125)
    run_jobs()
    assert primero.calls() == [("POST", INCIDENTS), ("POST", INCIDENTS)]
    assert push_row(app, reference).status == PushStatus.PUSHED
    assert len(events(app, reference, CaseEventKind.PRIMERO_PUSHED)) == 1


def test_a_push_fails_when_its_retries_run_out(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    run_jobs()
    primero.script += [primero.status(500), primero.unavailable(), primero.status(502)]
    on_desk(app, reference, verify=True)
    for _ in range(3):
        run_jobs()
        move_time(app, 5)
    run_jobs()
    assert len(primero.requests) == 3  # the first try and the two retries configured
    row = push_row(app, reference)
    assert (row.status, row.status_code) == (PushStatus.FAILED, 502)
    [failed] = events(app, reference, CaseEventKind.PRIMERO_REFUSED)
    assert failed["status"] == "failed" and "retries exhausted" in str(failed["errors"])
    assert scheduled(app) == {}


def test_wrong_credentials_stop_the_push_and_tell_the_admin(
    make_app: Callable[..., Flask], at_api: StandInAPI, primero: StandInPrimero,
    run_jobs: Callable[..., None], caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   **settings(primero, PRIMERO_PASSWORD="not-the-password"))
    deployment.standard(app)
    reference = report(app.test_client(), sms_later=False)
    run_jobs(app)
    on_desk(app, reference, verify=True)
    with caplog.at_level(logging.ERROR):
        run_jobs(app)
    assert primero.requests[0]["authorization"] == basic(USER, "not-the-password")
    row = push_row(app, reference)
    assert (row.status, row.status_code) == (PushStatus.STOPPED, 401)
    [stopped] = events(app, reference, CaseEventKind.PRIMERO_REFUSED)
    assert stopped["status"] == "stopped"
    [alert] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "GATEWAY_PRIMERO_USER and GATEWAY_PRIMERO_PASSWORD" in alert.getMessage()
    move_time(app, 86400)
    run_jobs(app)
    assert len(primero.requests) == 1 and scheduled(app) == {}


def test_complaints_and_help_requests_are_never_pushed(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    with_conduct(app)
    complaint = reference_in(complain(client, help_now="No"))
    help_request = reference_in(ask_for_help(client))
    run_jobs()
    conduct = actions.Actor(by="user:8", role="conduct", user_id=8)
    for reference in (complaint, help_request):
        with session_scope(app) as session:
            case = session.scalar(select(Case).where(Case.reference == reference))
            assert case is not None and case.kind != CaseKind.ALERT
            actor = conduct if case.kind == CaseKind.COMPLAINT else DESK
            actions.set_verification(session, case, actor, Verification.VERIFIED)
            assert not request_push_if_due(app, session, case, actor.by)
            assert not request_push(app, session, case, actor.by)
            session.commit()
        refused = run(gateway_cli, "primero", "push", reference)
        assert refused.exit_code == 1
        assert f"no alert {reference}: only alerts go to Primero" in refused.output
    with session_scope(app) as session:
        assert session.scalars(select(PrimeroPush)).all() == []
        # Even a push row written by hand for a complaint sends nothing.
        case_id = session.scalar(select(Case.id).where(Case.reference == complaint))
        session.add(PrimeroPush(case_id=case_id, incident_id=str(uuid.uuid4()), errors=[]))
        session.commit()
    push_after_commit(app, case_id)
    run_jobs()
    assert primero.requests == []
    assert push_row(app, complaint).status == PushStatus.REFUSED
    status = run(gateway_cli, "primero", "status").output
    assert help_request not in status


def test_no_reporter_data_nor_free_text_in_any_body(
    app: Flask, client: FlaskClient, at_api: StandInAPI, primero: StandInPrimero,
    run_jobs: Callable[..., None],
) -> None:
    deployment.standard(app)
    phone = Phone(client, at_api, run_jobs)
    for answer in ["Alerte !", "1", "recruté", "3", "1", "1", "1", "1", "3", "1", "1",
                   SMS_WORDS, "non"]:
        phone.send(answer)
    by_sms = reference_in(phone.send("1"))
    by_ussd = report(client, sms_later=True)
    run_jobs()
    for reference in (by_sms, by_ussd):
        on_desk(app, reference, verify=True)
        on_desk(app, reference, task_force=True)
    run_jobs()
    assert len(primero.incidents) == 2
    with session_scope(app) as session:
        pseudonyms = list(session.scalars(select(Reporter.pseudonym)))
    assert pseudonyms
    secrets = [REPORTER, REPORTER.lstrip("+"), CALLER, CALLER.lstrip("+"), SMS_WORDS,
               "filles", "march", "hommes", "armés", *pseudonyms]
    bodies = [r["raw"] for r in primero.requests]
    assert len(bodies) >= 2
    for body in bodies:
        for secret in secrets:
            assert secret not in body and secret.encode("unicode_escape").decode() not in body


def test_without_a_primero_url_nothing_is_queued_and_status_says_so(
    make_app: Callable[..., Flask], at_api: StandInAPI, primero: StandInPrimero,
    run_jobs: Callable[..., None], gateway_cli: click.Group, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   PRIMERO_URL=None)
    deployment.standard(app)
    reference = report(app.test_client(), sms_later=False)
    run_jobs(app)
    assert not on_desk(app, reference, verify=True)
    run_jobs(app)
    with session_scope(app) as session:
        assert session.scalars(select(PrimeroPush)).all() == []
    assert primero.requests == [] and scheduled(app) == {}
    monkeypatch.delenv("GATEWAY_PRIMERO_URL")
    status = run(gateway_cli, "primero", "status")
    assert status.output.startswith("Primero: not configured (set GATEWAY_PRIMERO_URL)")
    refused = run(gateway_cli, "primero", "push", reference)
    assert refused.exit_code == 1 and "not configured" in refused.output


def alert_row(app: Flask, category: str, reference: str) -> None:
    """A verified alert written straight into the database."""
    with session_scope(app) as session:
        session.add(Case(reference=reference, kind=CaseKind.ALERT, channel=Channel.USSD,
                         category=category, language="en", girls="unknown", boys="1",
                         verification=Verification.VERIFIED))
        session.commit()


def test_categories_without_a_violation_are_not_pushed_and_a_mapping_file_can_change_that(
    make_app: Callable[..., Flask], primero: StandInPrimero, run_jobs: Callable[..., None],
    tmp_path: Path, gateway_cli: click.Group,
) -> None:
    app = make_app(**settings(primero))
    alert_row(app, "attack_on_schools_or_hospitals", "1111111")
    alert_row(app, "threat", "2222222")
    for reference in ("1111111", "2222222"):
        assert not on_desk(app, reference)
    status = run(gateway_cli, "primero", "status").output
    assert ("not pushed (verified or reported to the task force): 2\n"
            "  1111111  category attack_on_schools_or_hospitals has no MRM violation in the "
            "mapping\n"
            "  2222222  category threat has no MRM violation in the mapping\n") in status
    # A task force that records such attacks as attacks on schools says so in its own file.
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(PRIMERO_MAPPING.read_text().replace(
        "attack_on_schools_or_hospitals = []",
        'attack_on_schools_or_hospitals = ["attack_on_schools"]'))
    app = make_app(**settings(primero, PRIMERO_MAPPING=str(mapping)))
    assert on_desk(app, "1111111")
    run_jobs(app)
    [sent] = primero.requests
    data = sent["json"]["data"]
    assert data["violation_category"] == ["attack_on_schools"]
    assert data["attack_on_schools"][0]["violation_tally"] == {
        "boys": 1, "girls": 0, "unknown": 0, "total": 1}
    assert "incident_location" not in data  # no place known: nothing invented


def test_a_broken_mapping_file_stops_the_push_naming_the_setting(
    make_app: Callable[..., Flask], primero: StandInPrimero, run_jobs: Callable[..., None],
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[categories]\nrecruitment = ["recruitement"]\n')
    app = make_app(**settings(primero, PRIMERO_MAPPING=str(mapping)))
    alert_row(app, "recruitment", "3333333")
    assert on_desk(app, "3333333")
    run_jobs(app)
    assert primero.requests == []
    row = push_row(app, "3333333")
    assert row.status == PushStatus.STOPPED and "GATEWAY_PRIMERO_MAPPING" in row.errors[0]


@pytest.mark.parametrize(
    ("girls", "boys", "expected"),
    [
        ("2-3", "0", (2, 0, 0)),
        ("10+", "4-9", (10, 4, 0)),
        ("1", "unknown", (1, 0, 0)),
        ("unknown", "unknown", (0, 0, 1)),
        (None, None, (0, 0, 1)),
        ("0", "unknown", (0, 0, 1)),
        ("0", "0", (0, 0, 0)),
    ],
)
def test_counts_are_tallied_by_their_lower_bound(
    girls: str | None, boys: str | None, expected: tuple[int, int, int]
) -> None:
    counted = tally(Case(girls=girls, boys=boys))
    assert (counted.girls, counted.boys, counted.unknown) == expected
    assert counted.total == sum(expected)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"GATEWAY_PRIMERO_URL": "https://mrm.example.org"}, "GATEWAY_PRIMERO_USER"),
        ({"GATEWAY_PRIMERO_URL": "https://mrm.example.org", "GATEWAY_PRIMERO_USER": "u"},
         "GATEWAY_PRIMERO_PASSWORD"),
        ({"GATEWAY_PRIMERO_URL": "http://mrm.example.org", "GATEWAY_PRIMERO_USER": "u",
          "GATEWAY_PRIMERO_PASSWORD": "p"}, "GATEWAY_PRIMERO_URL must use https://"),
        ({"GATEWAY_PRIMERO_URL": "https://mrm.example.org", "GATEWAY_PRIMERO_USER": "u",
          "GATEWAY_PRIMERO_PASSWORD": "p", "GATEWAY_PRIMERO_MAPPING": "/nowhere.toml"},
         "GATEWAY_PRIMERO_MAPPING"),
    ],
)
def test_unsafe_primero_settings_are_refused_at_start(
    data_dir: Path, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({"GATEWAY_DATA_DIR": str(data_dir), **environ})


def test_plain_http_is_accepted_to_this_machine_only(data_dir: Path) -> None:
    config = load_config({"GATEWAY_DATA_DIR": str(data_dir),
                          "GATEWAY_PRIMERO_URL": "http://127.0.0.1:3000/",
                          "GATEWAY_PRIMERO_USER": "u", "GATEWAY_PRIMERO_PASSWORD": "p"})
    assert config["PRIMERO_URL"] == "http://127.0.0.1:3000"
    assert load_config({"GATEWAY_DATA_DIR": str(data_dir)})["PRIMERO_URL"] is None


def test_verifying_on_the_desk_and_closing_for_the_task_force_push_through_the_job(
    app: Flask, client: FlaskClient, primero: StandInPrimero, run_jobs: Callable[..., None]
) -> None:
    """The desk's own pages (not a simulation of them) make a verified alert go to Primero."""
    deployment.standard(app)
    reference = report(client, sms_later=False)
    run_jobs()
    with session_scope(app) as session:
        create_user(session, "cp.ouaka@example.org", "child_protection", ["CF52"],
                    password=DESK_PASSWORD)
        session.commit()
    desk = app.test_client()
    desk.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(desk, "cp.ouaka@example.org")
    page = f"/cases/{reference}"
    status, html = post(desk, f"{page}/verify", {"verification": "not_verifiable"},
                        page=desk.get(page).get_data(as_text=True))
    assert status == 200 and "Verification saved." in html
    run_jobs()
    assert primero.requests == []  # not verifiable: nothing is due
    post(desk, f"{page}/verify", {"verification": "verified"},
         page=desk.get(page).get_data(as_text=True))
    run_jobs()
    assert primero.calls() == [("POST", INCIDENTS)]
    assert push_row(app, reference).requested_by == "cp.ouaka@example.org"
    post(desk, f"{page}/close", {"outcome": "task_force"},
         page=desk.get(page).get_data(as_text=True))
    run_jobs()
    assert primero.calls() == [("POST", INCIDENTS), ("POST", INCIDENTS),
                               ("PATCH", f"{INCIDENTS}/{push_row(app, reference).incident_id}")]
    assert push_row(app, reference).status == PushStatus.PUSHED
