"""Girls heard by women: cases about girls or sexual violence also go to the nearest woman."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from gateway.storage.models import Gender, Role
from tests import deployment
from tests.conftest import StandInAPI
from tests.test_complaints import complain, to
from tests.test_escalation import kinds
from tests.test_follow_up import report
from tests.test_ussd import reference_in

MAN, WOMAN_UP, WOMAN_OTHER_ROLE = "+23670000061", "+23670000062", "+23670000063"


def test_a_case_about_girls_also_goes_to_the_nearest_woman_up_the_hierarchy(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Man", phone=MAN, pcodes=["CF52"], gender=Gender.MALE)
    deployment.add_focal_point(app, name="Woman", phone=WOMAN_UP, pcodes=["CF"])
    reference = report(client, sms_later=False)  # girls
    run_jobs()
    assert len(to(at_api, MAN)) == 1 and len(to(at_api, WOMAN_UP)) == 1
    assert "no_woman_available" not in kinds(app, reference)


def test_when_no_woman_of_the_same_role_covers_it_the_case_records_the_gap(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Man", phone=MAN, pcodes=["CF52"], gender=Gender.MALE)
    # A woman who covers the place, but for conduct complaints: she is not the same role.
    deployment.add_focal_point(app, name="Conduct woman", phone=WOMAN_OTHER_ROLE, pcodes=["CF"],
                               role=Role.CONDUCT)
    reference = report(client, sms_later=False)
    run_jobs()
    assert len(to(at_api, MAN)) == 1  # routed as usual
    assert to(at_api, WOMAN_OTHER_ROLE) == []
    assert "no_woman_available" in kinds(app, reference)


def test_a_sexual_abuse_complaint_goes_to_a_conduct_woman(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Conduct man", phone=MAN, pcodes=["CF52"],
                               gender=Gender.MALE, role=Role.CONDUCT)
    deployment.add_focal_point(app, name="Conduct woman", phone=WOMAN_UP, pcodes=["CF"],
                               role=Role.CONDUCT)
    deployment.add_focal_point(app, name="CP woman", phone=WOMAN_OTHER_ROLE, pcodes=["CF52"])
    reference = reference_in(complain(client, help_now="No"))
    run_jobs()
    assert len(to(at_api, MAN)) == 1 and len(to(at_api, WOMAN_UP)) == 1
    assert to(at_api, WOMAN_OTHER_ROLE) == []
    assert "no_woman_available" not in kinds(app, reference)
