"""The USSD alert path, end to end, through the webhook as Africa's Talking posts it."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from gateway.cases.references import is_valid
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, OutboxMessage, OutboxStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI


def walk_alert(caller: Caller, *, language: str = "English", urgent: str = "Yes") -> str:
    """Dial and report the recruitment of 2-3 girls in Bambari; return the last screen.

    Today, by an armed group, the youngest under 15, no boys: keys, not labels, so that the
    walk is the same in every language.
    """
    caller.dial()
    caller.choose(language)
    caller.press("1")  # the alert is the first entry of the main menu
    caller.press("1")  # the screen saying who receives it and that it is confidential
    caller.press("1")  # recruited or used by armed forces or groups
    caller.choose("Ouaka")
    caller.choose("Bambari")
    caller.press("1")  # today
    caller.press("1")  # by an armed group
    caller.press("1")  # the youngest under 15
    caller.press("3")  # two or three girls
    caller.press("1")  # no boys
    caller.press("1" if urgent == "Yes" else "2")  # in danger right now
    caller.press("2")  # no SMS when it is followed up
    assert caller.screen.startswith("CON ")
    return caller.press("1")  # send


def reference_in(screen: str) -> str:
    digits = [word.strip(".,:;") for word in screen.split() if word.strip(".,:;").isdigit()]
    candidates = [d for d in digits if 6 <= len(d) <= 8]
    assert candidates, screen
    return candidates[0]


def cases(app: Flask) -> list[Case]:
    with session_scope(app) as session:
        return list(session.scalars(select(Case).options(selectinload(Case.location))))


def test_alert_reaches_the_focal_points_phone(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., int]
) -> None:
    deployment.standard(app)
    caller = Caller(client)

    end = walk_alert(caller)

    assert end.startswith("END ")
    reference = reference_in(end)
    assert is_valid(reference)
    [case] = cases(app)  # committed before the caller heard the reference
    assert case.reference == reference
    assert (case.category, case.children, case.sex, case.urgent) == (
        "recruitment", "2-3", "girls", True,
    )
    assert case.location is not None and case.location.pcode == "CF521"
    assert (case.girls, case.boys, case.perpetrator, case.age_group) == (
        "2-3", "0", "armed_group", "under_15",
    )

    started = time.monotonic()
    run_jobs()

    [sms] = at_api.messages  # the primary for Ouaka; not the backup, not the national one
    assert sms["form"]["to"] == deployment.OUAKA_PHONE
    assert sms["form"]["username"] == AT_USERNAME
    assert sms["form"]["from"] == "ALERTS"
    assert sms["headers"]["Apikey"] == AT_API_KEY
    message = sms["form"]["message"]
    assert reference in message
    assert "Bambari" in message
    assert "recruit" in message.lower()
    assert "girl" in message.lower()
    assert "2-3" in message
    assert "URGENT" in message.upper()
    assert len(message) <= 160
    # From the jobs starting to the SMS reaching the provider (the worker's own shutdown after
    # its last job, up to a second waiting on its command channel, is not the alert's delay)
    elapsed = sms["at"] - started
    assert elapsed < 1.0, elapsed
    with session_scope(app) as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status == OutboxStatus.SENT
        assert row.provider_message_id
        assert session.get(Case, case.id).status == CaseStatus.ROUTED


def test_french_caller_gets_french_screens(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., int]
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    end = walk_alert(caller, language="Français")
    assert end.startswith("END ")
    assert "Merci" in end or "merci" in end
    assert cases(app)[0].language == "fr"


def test_a_repeated_hop_shows_the_same_screen_without_advancing(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    menu = caller.screen
    again = caller.post(caller.text)  # the network retries the same hop
    assert again == menu
    caller.press("1")
    notice = caller.screen
    assert notice != menu
    assert caller.post(caller.text) == notice
    assert caller.post(caller.text) == notice


def test_a_repeated_last_hop_makes_one_case(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., int]
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    end = walk_alert(caller)
    assert caller.post(caller.text) == end
    run_jobs()
    assert len(at_api.messages) == 1
    # Even if the session were lost in Redis, the same session id cannot make a second case.
    app.extensions["redis"].flushdb()
    # The next hop after such a loss carries every input of the session: it is replayed whole.
    replay = Caller(client, session_id=caller.session_id)
    replay.post(caller.text)
    assert reference_in(replay.screen) == reference_in(end)
    assert len(cases(app)) == 1
    run_jobs()
    run_jobs()
    assert len(at_api.messages) == 1


def test_input_that_is_not_an_option_shows_the_screen_again_with_a_hint(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    before = caller.options()
    again = caller.press("7")
    assert again.startswith("CON ")
    assert caller.options() == before
    assert len(again) > 4 and again != caller.screens[-2]


def test_dial_string_prefills_the_first_inputs(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    english_menu = caller.screen
    # *384*1234*2# : the first hop already carries "2" (English is the second language).
    prefilled = Caller(client, phone="+243970009999")
    screen = prefilled.post(caller.text)
    assert screen == english_menu


def test_a_number_that_reported_gets_the_language_choice_first_next_time(
    app: Flask, client: FlaskClient
) -> None:
    """Nothing on screen shows that a phone was used before: its first screen is everyone's."""
    deployment.standard(app)
    never_seen = Caller(client, phone="+243970008888").dial()
    assert walk_alert(Caller(client)).startswith("END ")
    again = Caller(client)
    assert again.dial() == never_seen
    assert again.choose("English").startswith("CON What would you like to do?")
    # A dial string answering the language choice still works for that number.
    assert Caller(client).post("2") == again.screen


def test_a_returning_callers_lost_session_is_replayed_from_the_language_choice(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    walk_alert(Caller(client))
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    caller.press("1")  # report a child in danger
    caller.press("1")  # continue
    assert "What happened?" in caller.screen
    app.extensions["redis"].flushdb()  # the session's state is lost mid-call
    caller.inputs.append("1")  # recruited: the hop carries every input since the first
    replayed = caller.post(caller.text)
    assert "Ouaka" in replayed, replayed


def test_paging_a_long_list_of_places(app: Flask, client: FlaskClient) -> None:
    places = [("CD", "Democratic Republic of the Congo", None), ("CD61", "Nord-Kivu", "CD")]
    places += [
        (f"CD61{i:02d}", f"Territoire de localite numero {i:02d}", "CD61") for i in range(40)
    ]
    deployment.add_places(app, places)
    deployment.add_focal_point(app, name="NK", phone="+243970000001", pcodes=["CD61"])
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    caller.press("1")
    caller.press("1")
    caller.press("1")
    caller.choose("Nord-Kivu")
    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        labels = caller.options()
        seen.update(label for label in labels.values() if "numero" in label)
        if "98" not in labels:
            break
        caller.press("98")
    assert pages >= 3
    assert len(seen) == 40  # every place reachable, none cut in half (Caller checks the limit)
    caller.press("0")  # back one page
    caller.choose("numero 3")
    assert caller.screen.startswith("CON ")
    assert "numero" not in caller.screen  # moved on to the next question


def test_a_database_failure_ends_the_call_properly_in_the_callers_language(
    make_app: Callable[..., Flask],
) -> None:
    # A database server that does not answer (nothing listens on port 9).
    app = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/gateway")
    client = app.test_client()
    caller = Caller(client)
    caller.dial()
    caller.choose("Français")
    caller.press("1")
    caller.press("1")
    screen = caller.press("1")  # the place list needs the database
    assert screen.startswith("END ")
    assert "désolé" in screen.lower() or "erreur" in screen.lower() or "réessayer" in screen.lower()


def test_webhook_token_is_required_when_set(make_app: Callable[..., Flask]) -> None:
    app = make_app(WEBHOOK_TOKEN="a-long-webhook-token-for-tests")
    client = app.test_client()
    form = {"sessionId": "s1", "phoneNumber": "+243970001234", "text": "", "serviceCode": "*1#"}
    assert client.post("/africastalking/ussd", data=form).status_code == 403
    assert client.post("/africastalking/ussd?token=wrong", data=form).status_code == 403
    ok = client.post("/africastalking/ussd?token=a-long-webhook-token-for-tests", data=form)
    assert ok.status_code == 200 and ok.get_data(as_text=True).startswith("CON ")
    report = client.post("/africastalking/delivery-reports", data={"id": "x", "status": "Success"})
    assert report.status_code == 403


def test_malformed_posts_get_a_4xx_never_a_5xx(app: Flask, client: FlaskClient) -> None:
    bodies = [
        {},
        {"sessionId": "s"},
        {"phoneNumber": "+243970001234"},
        {"sessionId": "x" * 500, "phoneNumber": "1", "text": ""},
        {"sessionId": "s", "phoneNumber": "1", "text": "1*" * 3000},
    ]
    for body in bodies:
        response = client.post("/africastalking/ussd", data=body)
        assert 400 <= response.status_code < 500, (body, response.status_code)
    raw = client.post(
        "/africastalking/ussd", data=b"\xff\xfe\x00garbage", content_type="application/json"
    )
    assert 400 <= raw.status_code < 500
    odd = client.post(
        "/africastalking/ussd",
        data={"sessionId": "s2", "phoneNumber": "not a number", "text": "\u202e\x01*9*99*"},
    )
    assert odd.status_code == 200
    assert odd.get_data(as_text=True).startswith(("CON ", "END "))
    nul = client.post(  # no provider sends a NUL, and PostgreSQL text cannot hold one
        "/africastalking/ussd", data={"sessionId": "s3", "phoneNumber": "1", "text": "\x00"}
    )
    assert nul.status_code == 400
    assert client.get("/africastalking/ussd").status_code == 405


def test_case_count_is_unchanged_by_abandoned_sessions(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    caller.press("1")
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
