"""USSD session-end notifications, posted as Africa's Talking posts them: partial alerts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, OutboxMessage
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI

PHONE = "+243970001234"


def end_session(
    client: FlaskClient, caller: Caller, status: str = "Incomplete", phone: str | None = None
) -> int:
    """Post the session-end notification of the caller's session; return the HTTP status."""
    response = client.post(
        "/africastalking/ussd-events",
        data={
            "sessionId": caller.session_id,
            "serviceCode": "*384*1234#",
            "networkCode": "63001",
            "phoneNumber": phone or caller.phone,
            "status": status,
            "durationInMillis": "41250",
            "hopsCount": str(len(caller.screens)),
            "input": caller.text,
            "lastAppResponse": caller.screen,
            "errorMessage": "" if status == "Success" else "USSD session timed out",
            "date": "2025-03-04 10:22:31",
            "cost": "KES 0.0000",
        },
    )
    assert response.get_data(as_text=True) == "OK\n"
    return response.status_code


def start_alert(caller: Caller) -> None:
    """Dial in English and go to the question about what happened."""
    caller.dial()
    caller.choose("English")
    caller.press("1")  # report a child in danger
    caller.press("1")  # continue after the notice


def cut_after_place(caller: Caller) -> str:
    """Give the category and the place, then stop on the next question; return its screen."""
    start_alert(caller)
    caller.press("1")  # recruited by armed forces or groups
    caller.choose("Ouaka")
    caller.choose("Bambari")
    assert "When did it happen" in caller.screen
    return caller.screen


def all_cases(app: Flask) -> list[Case]:
    with session_scope(app) as session:
        query = select(Case).options(selectinload(Case.location), selectinload(Case.events))
        return list(session.scalars(query))


def stored_redis(app: Flask) -> str:
    """Every key and string value kept in Redis, as one text."""
    redis = app.extensions["redis"]
    parts = []
    for key in redis.scan_iter():
        parts.append(key.decode())
        if redis.type(key) == b"string":
            parts.append(redis.get(key).decode(errors="replace"))
    return "\n".join(parts)


@pytest.mark.parametrize("status", ["Incomplete", "Failed"])
def test_a_cut_report_becomes_a_routed_partial_alert(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    status: str,
) -> None:
    deployment.standard(app)
    caller = Caller(client, phone=PHONE)
    cut_after_place(caller)

    assert end_session(client, caller, status) == 200

    [case] = all_cases(app)
    assert case.partial
    assert case.category == "recruitment"
    assert case.location is not None and case.location.pcode == "CF521"
    assert (case.children, case.sex, case.urgent) == ("unknown", "unknown", None)
    [partial] = [event for event in case.events if event.kind == "partial"]
    assert partial.detail == {"status": status}  # nothing the caller typed or saw
    run_jobs()
    [sms] = at_api.messages
    assert sms["form"]["to"] == deployment.OUAKA_PHONE
    assert case.reference in sms["form"]["message"]
    assert "Bambari" in sms["form"]["message"]
    with session_scope(app) as session:
        assert session.get(Case, case.id).status == CaseStatus.ROUTED
    # Never the caller's number, in Redis (the resumable report included) or with the case.
    assert "970001234" not in stored_redis(app)


def test_a_place_answered_dont_know_counts_as_given(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app, [("CF", "Central African Republic", None),
                                ("CD", "DR Congo", None)])
    caller = Caller(client)
    start_alert(caller)
    caller.press("1")
    caller.choose("Don't know")
    assert "When did it happen" in caller.screen
    end_session(client, caller)
    [case] = all_cases(app)
    assert case.partial and case.location_id is None


def test_no_partial_alert_before_the_category(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client)
    start_alert(caller)
    assert "What happened" in caller.screen
    end_session(client, caller)
    assert all_cases(app) == []


def test_no_partial_alert_before_the_place(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client)
    start_alert(caller)
    caller.press("1")
    caller.choose("Ouaka")  # one level down, no place chosen yet
    end_session(client, caller)
    assert all_cases(app) == []
    # Nor after going back from the place to the category.
    caller.choose("Bambari")
    caller.press("0")
    caller.press("0")
    caller.press("0")
    assert "What happened" in caller.screen
    end_session(client, caller, "Failed")
    assert all_cases(app) == []


def test_no_partial_alert_when_the_session_ended_success(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    cut_after_place(caller)
    end_session(client, caller, "Success")
    run_jobs()
    assert all_cases(app) == []
    assert at_api.messages == []


def test_a_repeated_event_changes_nothing(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    cut_after_place(caller)
    end_session(client, caller)
    run_jobs()
    [before] = all_cases(app)
    redis_before = stored_redis(app)

    end_session(client, caller)
    end_session(client, caller, "Failed")
    run_jobs()

    [after] = all_cases(app)
    assert after.id == before.id
    assert [e.kind for e in after.events] == [e.kind for e in before.events]
    assert len(at_api.messages) == 1
    with session_scope(app) as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 1
    assert {k for k in redis_before.splitlines() if k.startswith("ussd:resume")} == {
        k for k in stored_redis(app).splitlines() if k.startswith("ussd:resume")
    }


def test_an_event_for_an_unknown_session_changes_nothing(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    stranger = Caller(client)
    stranger.inputs = ["2", "1", "1", "1", "2", "1"]
    stranger.screens = ["CON How many girls?"]
    assert end_session(client, stranger) == 200
    run_jobs()
    assert all_cases(app) == []
    assert "ussd:resume" not in stored_redis(app)


def test_an_event_after_the_report_was_sent_changes_nothing(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    from tests.test_ussd import walk_alert

    deployment.standard(app)
    caller = Caller(client)
    walk_alert(caller)
    end_session(client, caller, "Incomplete")
    run_jobs()
    [case] = all_cases(app)
    assert not case.partial
    assert "partial" not in [event.kind for event in case.events]
    assert len(at_api.messages) == 1
    assert "ussd:resume" not in stored_redis(app)


def test_a_malformed_event_is_refused(app: Flask, client: FlaskClient) -> None:
    response = client.post("/africastalking/ussd-events", data={"status": "Incomplete"})
    assert response.status_code == 400
