"""Focal points answer by SMS: OK acknowledges, INFO repeats, DONE closes (OK and DONE confirmed
with a code sent to their phone); nobody else may."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from gateway.storage.models import Role
from tests import deployment
from tests.conftest import StandInAPI
from tests.test_complaints import (
    CONDUCT_PHONE,
    COORDINATOR_PHONE,
    case_by,
    complain,
    move_time,
    to,
    with_conduct,
)
from tests.test_follow_up import CALLER, report, to_caller
from tests.test_sms import Phone
from tests.test_ussd import reference_in


def phone_of(client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
             number: str) -> Phone:
    return Phone(client, at_api, run_jobs, number=number)


def test_the_focal_point_it_was_routed_to_acknowledges_and_the_reporter_hears_once(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=True)
    run_jobs()
    assert len(to(at_api, deployment.OUAKA_PHONE)) == 1
    ouaka = phone_of(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    ouaka.seen = 1
    asked = ouaka.send(f"OK {reference}")
    assert asked.startswith(f"Reply OK {reference} ") and asked.endswith(" to confirm.")
    assert case_by(app, reference).acknowledged_at is None  # not before the code comes back
    assert ouaka.confirm() == f"Case {reference}: acknowledged. Thank you."
    case = case_by(app, reference)
    assert case.acknowledged_at is not None
    [neutral] = to_caller(at_api)
    assert reference in neutral and "child" not in neutral.lower()
    # Twice: the same answer, no second SMS to the reporter.
    assert ouaka.command(f"ok {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert len(to_caller(at_api)) == 1
    info = ouaka.send(f"INFO {reference}")
    assert info.startswith("URGENT child alert " + reference) and "Bambari" in info
    assert ouaka.command(f"DONE {reference}") == f"Case {reference}: closed."
    case = case_by(app, reference)
    assert case.closed_at is not None
    # Acknowledged: time moving on escalates nothing.
    move_time(app, 3 * 86400)
    run_jobs()
    assert to(at_api, deployment.OUAKA_BACKUP_PHONE) == []
    assert to(at_api, COORDINATOR_PHONE) == []


def test_a_focal_point_it_was_not_routed_to_gets_a_neutral_answer_and_the_try_is_recorded(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=True)
    run_jobs()
    national = phone_of(client, at_api, run_jobs, deployment.NATIONAL_PHONE)
    assert national.send(f"OK {reference}") == f"Aucune action pour {reference}."
    stranger = phone_of(client, at_api, run_jobs, "+243970004444")
    assert stranger.send(f"OK {reference}") == f"Aucune action pour {reference}."
    assert stranger.send(f"INFO {reference}") == f"Aucune action pour {reference}."
    # An unknown number gets the very same words as a case one may not act on.
    assert national.send("OK 1234567") == "Aucune action pour 1234567."
    case = case_by(app, reference)
    assert case.acknowledged_at is None and case.closed_at is None
    with app.app_context():
        from gateway.storage.db import session_scope
        from gateway.storage.models import CaseEvent

        with session_scope(app) as session:
            tries = session.query(CaseEvent).filter_by(case_id=case.id,
                                                       kind="unauthorised_command").all()
            assert len(tries) == 3
            assert all("sender" in t.detail or "focal_point_ids" in t.detail for t in tries)
    assert to_caller(at_api) == []


def test_the_coordinator_of_the_area_may_act_on_an_alert_but_not_on_a_complaint(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    alert = report(client, sms_later=False)
    complaint = reference_in(complain(client, help_now="No", phone="+243970002222"))
    run_jobs()
    coordinator = phone_of(client, at_api, run_jobs, COORDINATOR_PHONE)
    assert coordinator.command(f"OK {alert}") == f"Case {alert}: acknowledged. Thank you."
    assert coordinator.send(f"INFO {complaint}") == f"No action for {complaint}."
    ouaka = phone_of(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    ouaka.seen = 1  # the alert it received
    assert ouaka.send(f"OK {complaint}") == f"No action for {complaint}."
    assert case_by(app, complaint).acknowledged_at is None
    conduct = phone_of(client, at_api, run_jobs, CONDUCT_PHONE)
    conduct.seen = len(to(at_api, CONDUCT_PHONE))
    assert conduct.command(f"OK {complaint}") == f"Case {complaint}: acknowledged. Thank you."


def test_keywords_in_the_focal_points_language_and_a_hint_for_anything_else(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Ouaka FR", phone=deployment.OUAKA_PHONE,
                               pcodes=["CF52"], languages=["fr"])
    deployment.add_focal_point(app, name="Services", phone="+23670000051", pcodes=["CF52"],
                               role=Role.SERVICES, languages=["fr"])
    reference = report(client, sms_later=False)
    run_jobs()
    ouaka = phone_of(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    ouaka.seen = 1
    assert ouaka.send("bonjour") == "Envoyez OK, INFO ou FINI et le numéro du cas."
    asked = ouaka.send(f"Fini {reference}")
    assert asked.startswith(f"Répondez FINI {reference} ") and asked.endswith(" pour confirmer.")
    assert ouaka.confirm() == f"Cas {reference} : clos."
    assert case_by(app, reference).closed_at is not None
    assert CALLER  # the reporter asked for no SMS: none went
    assert to_caller(at_api) == []
