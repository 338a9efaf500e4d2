"""Acting on the desk and by SMS are one thing: whichever comes first ends the escalation and
sends the reporter who asked their one SMS; the other then changes nothing and sends nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import deployment
from tests.conftest import StandInAPI
from tests.desk.conftest import UserFactory, csrf_of, login
from tests.test_complaints import case_by, move_time, to
from tests.test_follow_up import report, to_caller
from tests.test_sms import Phone

CP = "cp.ouaka@example.org"  # a desk user of Ouaka, not the Ouaka CP focal point's phone
THREE_DAYS = 3 * 86400


class World:
    """A real alert made by USSD, routed, with the reporter asking for follow-up."""

    def __init__(self, app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
                 make_user: UserFactory) -> None:
        self.app, self.at_api = app, at_api
        self.jobs: Callable[[], None] = lambda: run_jobs(app)
        make_user(CP, "child_protection", ["CF52"])
        self.reference = report(app.test_client(), sms_later=True)
        self.jobs()
        assert len(to(at_api, deployment.OUAKA_PHONE)) == 1  # the alert itself
        self.desk = app.test_client()
        login(self.desk, CP)
        self.ouaka = Phone(app.test_client(), at_api, lambda: self.jobs(),
                           number=deployment.OUAKA_PHONE)
        self.ouaka.seen = 1

    def on_desk(self, action: str) -> str:
        """Press an action's button on the case page; the page it comes back to."""
        url = f"/cases/{self.reference}"
        page = self.desk.get(url).get_data(as_text=True)
        response = self.desk.post(f"{url}/{action}", data={"csrf_token": csrf_of(page)},
                                  follow_redirects=True)
        assert response.status_code == 200
        self.jobs()  # the SMS queued after the commit go out
        return response.get_data(as_text=True)

    def nothing_escalates(self) -> None:
        """Days later, no backup or anyone else is paged about the case."""
        sent = len(self.at_api.messages)
        move_time(self.app, THREE_DAYS)
        self.jobs()
        assert to(self.at_api, deployment.OUAKA_BACKUP_PHONE) == []
        assert len(self.at_api.messages) == sent
        assert case_by(self.app, self.reference).escalation_stage == 0


@pytest.fixture
def world(desk_app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
          make_user: UserFactory) -> World:
    return World(desk_app, at_api, run_jobs, make_user)


def test_desk_first_then_sms_the_reporter_hears_once_and_nothing_escalates(
    world: World, at_api: StandInAPI
) -> None:
    reference = world.reference
    assert "Case acknowledged." in world.on_desk("acknowledge")
    [neutral] = to_caller(at_api)
    assert reference in neutral and "child" not in neutral.lower()
    # The focal point's OK afterwards: the same answer as ever, nothing more sent.
    assert world.ouaka.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert len(to_caller(at_api)) == 1
    world.nothing_escalates()


def test_sms_first_then_desk_the_reporter_hears_once_and_nothing_escalates(
    world: World, at_api: StandInAPI
) -> None:
    reference = world.reference
    assert world.ouaka.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert len(to_caller(at_api)) == 1
    page = world.on_desk("acknowledge")
    assert "This case was already acknowledged." in page
    assert ">Acknowledge</button>" not in page
    assert "by Ouaka CP" in page  # the history names who acknowledged, by SMS
    assert len(to_caller(at_api)) == 1
    world.nothing_escalates()


def test_done_by_sms_shows_closed_on_the_desk_and_the_desk_reopens_it(
    world: World, at_api: StandInAPI
) -> None:
    reference = world.reference
    assert world.ouaka.command(f"DONE {reference}") == f"Case {reference}: closed."
    assert len(to_caller(at_api)) == 1  # closing acknowledged it: the reporter heard once
    desk: FlaskClient = world.desk
    assert reference not in desk.get("/cases").get_data(as_text=True)  # open cases only
    assert reference in desk.get("/cases?state=closed").get_data(as_text=True)
    page = desk.get(f"/cases/{reference}").get_data(as_text=True)
    assert "No outcome given" in page and ">Reopen</button>" in page
    page = world.on_desk("reopen")
    assert "Case reopened." in page and ">Close case</button>" in page
    case = case_by(world.app, reference)
    assert case.closed_at is None and case.acknowledged_at is not None
    assert reference in desk.get("/cases").get_data(as_text=True)
    # Reopened, still followed up: no second SMS, nothing escalates.
    assert len(to_caller(at_api)) == 1
    world.nothing_escalates()
