"""A child who left an armed group asks for help: services receive it at once, no verification."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from gateway.storage.models import CaseKind, CaseStatus, Gender, Role
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_complaints import CP_PHONES, case_by, to
from tests.test_escalation import kinds
from tests.test_ussd import reference_in

SERVICES, SERVICES_WOMAN = "+23670000051", "+23670000052"


def ask_for_help(client: FlaskClient, sex: str = "Girl", need: str = "safe",
                 contact: str = "No") -> str:
    caller = Caller(client, phone="+243970006666")
    caller.dial()
    caller.choose("English")
    caller.choose("armed group")
    assert "Do not give your name" in caller.screen
    caller.choose("Continue")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    assert "How old are you?" in caller.screen
    caller.choose("15 to 17")
    caller.choose(sex)
    caller.choose("No")  # no children of their own
    assert "What do you need first?" in caller.screen
    caller.choose(need)
    caller.choose("No")  # no SMS later
    caller.choose(contact)  # may a support service call?
    return caller.choose("Send")


def test_a_help_request_goes_at_once_to_services_only(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    deployment.add_focal_point(app, name="Services", phone=SERVICES, pcodes=["CF52"],
                               role=Role.SERVICES, gender=Gender.MALE)
    deployment.add_focal_point(app, name="Services woman", phone=SERVICES_WOMAN, pcodes=["CF"],
                               role=Role.SERVICES)
    last = ask_for_help(client)
    assert "People who can help will get your message" in last
    reference = reference_in(last)
    run_jobs()
    [sms] = to(at_api, SERVICES)
    assert sms.startswith(f"URGENT: Help request {reference} (left armed group): Bambari")
    assert "15-17, girl, own children: no. Needs first: safety" in sms
    assert len(to(at_api, SERVICES_WOMAN)) == 1  # a girl: a woman hears her too
    for number in CP_PHONES:
        assert to(at_api, number) == []
    case = case_by(app, reference)
    assert case.kind == CaseKind.HELP_REQUEST and case.status == CaseStatus.ROUTED
    assert case.answers == {"age": "15_17", "own_children": "no", "need": "safety"}
    assert kinds(app, reference)[:2] == ["created", "routed"]


def test_a_boy_who_needs_school_is_not_urgent(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Services", phone=SERVICES, pcodes=["CF52"],
                               role=Role.SERVICES, gender=Gender.MALE)
    reference = reference_in(ask_for_help(client, sex="Boy", need="School"))
    run_jobs()
    [sms] = to(at_api, SERVICES)
    assert sms.startswith(f"Help request {reference}") and "boy" in sms and "school/work" in sms
    assert not case_by(app, reference).is_urgent
