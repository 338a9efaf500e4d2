"""A reporter who floods: every case saved, focal points paged once an hour, not for each."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseEvent, CaseStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone
from tests.test_ussd import reference_in, walk_alert
from workers.enqueue import enqueue_route


class Returning(Caller):
    """A caller whose language is remembered after the first call: no language screen."""

    def choose(self, label: str) -> str:
        if label == "English" and not any("English" in o for o in self.options().values()):
            return self.screen
        return super().choose(label)


def test_cases_past_the_hourly_limit_are_saved_flagged_and_not_paged(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME="gateway-test", AT_API_KEY="at-test-api-key",
                   AT_API_URL=at_api.url, FLOOD_CASES_PER_HOUR=2, RATE_PER_CALLER=(0, 60))
    deployment.standard(app)
    client = app.test_client()
    for _ in range(4):
        assert walk_alert(Returning(client, phone="+243970004444")).startswith("END ")
    assert walk_alert(Caller(client, phone="+243970001111")).startswith("END ")
    run_jobs(app)

    with session_scope(app) as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert len(cases) == 5  # every report saved
        assert all(case.status == CaseStatus.ROUTED for case in cases)
        flagged = session.scalars(
            select(CaseEvent.case_id).where(CaseEvent.kind == "flagged_flood")
        ).all()
    assert flagged == [cases[2].id, cases[3].id]
    # Ouaka's primary is paged for the first two of the flood, once for the rest of the hour
    # (a summary naming the latest flagged case), and for the other caller.
    texts = [m["form"]["message"] for m in at_api.messages]
    assert len(texts) == 4
    [summary] = [text for text in texts if text.startswith("Many reports from one sender")]
    assert cases[2].reference in summary
    assert not any(cases[3].reference in text for text in texts)


def test_a_flagged_case_routed_twice_stays_unpaged(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME="gateway-test", AT_API_KEY="at-test-api-key",
                   AT_API_URL=at_api.url, FLOOD_CASES_PER_HOUR=1, RATE_PER_CALLER=(0, 60))
    deployment.standard(app)
    client = app.test_client()
    for _ in range(2):
        walk_alert(Returning(client, phone="+243970004444"))
    run_jobs(app)
    with app.app_context():
        for case_id in (1, 2):
            enqueue_route(app, case_id, True)
    run_jobs(app)
    assert len(at_api.messages) == 2  # the first case, then the hour's one flood summary


def test_cases_to_triage_and_alerts_of_one_sender_are_grouped_apart(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME="gateway-test", AT_API_KEY="at-test-api-key",
                   AT_API_URL=at_api.url, FLOOD_CASES_PER_HOUR=2)
    deployment.with_triage(app)
    client = app.test_client()
    sender = "+243970004444"
    phone = Phone(client, at_api, lambda: run_jobs(app), number=sender)
    for index in range(3):
        phone.send(f"ALERT men with guns near the river, message {index}")
    # The triage desk: the first, then the hour's one summary; the third is flagged, unsent.
    desk = [m["form"]["message"] for m in at_api.messages
            if m["form"]["to"] == deployment.TRIAGE_PHONE]
    assert len(desk) == 2 and desk[1].startswith("Many reports from one sender")
    # The same person's alert by USSD is no flood: Ouaka's focal point is paged with it in full.
    reference = reference_in(walk_alert(Returning(client, phone=sender)))
    run_jobs(app)
    [alert] = [m["form"]["message"] for m in at_api.messages
               if m["form"]["to"] == deployment.OUAKA_PHONE]
    assert reference in alert and not alert.startswith("Many reports")
