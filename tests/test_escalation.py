"""Escalation: time moved forward (RQ's scheduled registry), never slept; each stage fires once."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.cases.escalation import delay_for
from gateway.storage.db import session_scope
from gateway.storage.models import CaseEvent, Gender, Level, OutboxMessage, Role
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_complaints import (
    COORDINATOR_PHONE,
    case_by,
    complain,
    move_time,
    to,
    with_conduct,
)
from tests.test_follow_up import report
from tests.test_ussd import reference_in
from workers.escalation import escalate_case

BACKUP = deployment.OUAKA_BACKUP_PHONE
MINUTE = 60


def kinds(app: Flask, reference: str) -> list[str]:
    case = case_by(app, reference)
    with session_scope(app) as session:
        return list(session.scalars(
            select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ))


def test_an_urgent_alert_goes_to_the_backup_after_30_minutes_then_the_coordinator_once(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)  # a child in danger now: urgent
    run_jobs()
    move_time(app, 29 * MINUTE)
    run_jobs()
    assert to(at_api, BACKUP) == []
    move_time(app, 31 * MINUTE)
    run_jobs()
    [backup] = to(at_api, BACKUP)
    assert backup.startswith(f"Not acknowledged yet. URGENT child alert {reference}")
    assert backup.endswith(f"Reply OK {reference}")
    assert to(at_api, COORDINATOR_PHONE) == []
    move_time(app, 31 * MINUTE)
    run_jobs()
    assert len(to(at_api, COORDINATOR_PHONE)) == 1
    # Time goes on, the jobs run again (a duplicate, a retry): nothing more is sent.
    move_time(app, 7 * 86400)
    run_jobs()
    with app.app_context():
        escalate_case(case_by(app, reference).id, 1)
        escalate_case(case_by(app, reference).id, 2)
    run_jobs()
    assert len(to(at_api, BACKUP)) == 1 and len(to(at_api, COORDINATOR_PHONE)) == 1
    assert len(to(at_api, deployment.OUAKA_PHONE)) == 1
    assert kinds(app, reference).count("escalated") == 2
    assert case_by(app, reference).escalation_stage == 2


def test_a_case_not_urgent_waits_24_hours(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    complain(client, what="work for them", when="Earlier", help_now="No")
    deployment.add_focal_point(app, name="Conduct backup", phone="+23670000029",
                               pcodes=["CF52"], role=Role.CONDUCT, level=Level.BACKUP)
    run_jobs()
    move_time(app, 23 * 3600)
    run_jobs()
    assert to(at_api, "+23670000029") == []
    move_time(app, 25 * 3600)
    run_jobs()
    assert len(to(at_api, "+23670000029")) == 1
    assert to(at_api, COORDINATOR_PHONE) == []  # a complaint never leaves its role


def test_sexual_violence_within_72_hours_escalates_after_one_hour(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    deployment.add_focal_point(app, name="Conduct national", phone="+23670000028",
                               pcodes=["CF"], role=Role.CONDUCT, gender=Gender.MALE)
    reference = reference_in(complain(client, when="In the last 3 days", help_now="No"))
    assert delay_for(case_by(app, reference)) == 3600
    run_jobs()
    move_time(app, 59 * MINUTE)
    run_jobs()
    assert to(at_api, "+23670000028") == []
    move_time(app, 61 * MINUTE)
    run_jobs()
    # No conduct backup in Ouaka: the conduct focal point one level up, never a coordinator.
    [up] = to(at_api, "+23670000028")
    assert up.startswith(f"Not acknowledged yet. URGENT: Conduct complaint {reference}")
    assert to(at_api, COORDINATOR_PHONE) == []
    assert "escalation_skipped" not in kinds(app, reference)[:3]


def test_a_failed_delivery_report_escalates_at_once(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()
    with session_scope(app) as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.focal_point_id.is_not(None)))
        assert row is not None
        message_id = row.provider_message_id
    response = client.post("/africastalking/delivery-reports", data={
        "id": message_id, "status": "Failed", "phoneNumber": deployment.OUAKA_PHONE,
        "networkCode": "62301", "failureReason": "DeliveryFailure", "retryCount": "0",
    })
    assert response.status_code == 200
    run_jobs()  # no time moved
    assert len(to(at_api, BACKUP)) == 1
    # The same report again, and the timer of that stage later: still once.
    client.post("/africastalking/delivery-reports", data={
        "id": message_id, "status": "Failed", "failureReason": "DeliveryFailure"})
    run_jobs()
    with app.app_context():
        escalate_case(case_by(app, reference).id, 1)  # what stage 1's own timer runs later
    run_jobs()
    assert len(to(at_api, BACKUP)) == 1
    assert kinds(app, reference).count("escalated") == 1
    assert case_by(app, reference).escalation_stage == 1


def test_a_worker_restart_between_routing_and_escalation_loses_no_timer(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
    app: Flask, client: FlaskClient,
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()  # routed by the first worker, which then stops
    # A new process: its own app and worker, the same Redis and database.
    restarted = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
                         AT_API_URL=at_api.url, AT_SENDER_ID="ALERTS")
    move_time(restarted, 31 * MINUTE)
    run_jobs(restarted)
    run_jobs(restarted)
    assert len(to(at_api, BACKUP)) == 1
    assert case_by(app, reference).escalation_stage == 1
