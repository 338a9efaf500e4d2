"""A caller cut off in a report dials again: once their language is chosen, offered to continue.

The first screen is the language choice, as for a number never seen; the offer says nothing of
the report and lasts five minutes; a resumed session adds to a routed case, never overwrites it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, Gender, Level, OutboxMessage
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_ussd import reference_in
from tests.test_ussd_events import PHONE, all_cases, cut_after_place, end_session

CONTINUE = "Continue"
START_AGAIN = "Start again"


def cut_and_end(client: FlaskClient, phone: str = PHONE) -> tuple[Caller, str]:
    """A session cut off after the category and place; return it and its last screen."""
    caller = Caller(client, phone=phone)
    screen = cut_after_place(caller)
    end_session(client, caller)
    return caller, screen


def finish_report(caller: Caller) -> str:
    """Answer from "when" on: today, armed group, under 15, 2-3 girls, no boys, in danger now,
    no SMS; send."""
    for key in ("1", "1", "1", "3", "1", "1", "2"):
        caller.press(key)
    assert "Send your report" in caller.screen
    return caller.press("1")


def offered(screen: str) -> bool:
    return "cut off" in screen and CONTINUE in screen and START_AGAIN in screen


def redial(client: FlaskClient, phone: str = PHONE, language: str = "English") -> Caller:
    """Dial again: the language choice first, as for a number never seen; then choose one."""
    caller = Caller(client, phone=phone)
    assert caller.dial() == Caller(client, phone="+243970009876").dial()
    caller.choose(language)
    return caller


def resume_records(app: Flask) -> list[bytes]:
    return list(app.extensions["redis"].scan_iter("ussd:resume:*"))


def ouaka_man_and_woman(app: Flask) -> None:
    """A male primary for Ouaka and a female backup: reports about girls add the woman."""
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Ouaka CP", phone=deployment.OUAKA_PHONE,
                               pcodes=["CF52"], gender=Gender.MALE)
    deployment.add_focal_point(app, name="Ouaka backup", phone=deployment.OUAKA_BACKUP_PHONE,
                               pcodes=["CF52"], level=Level.BACKUP, gender=Gender.FEMALE)


def test_continue_completes_the_same_case_and_notifies_only_who_it_adds(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    ouaka_man_and_woman(app)
    _, cut_screen = cut_and_end(client)
    run_jobs()
    [partial] = all_cases(app)
    [first] = at_api.messages
    assert first["form"]["to"] == deployment.OUAKA_PHONE  # sex not known yet: no woman needed

    again = redial(client)
    assert offered(again.screen)
    assert again.choose(CONTINUE) == cut_screen  # the screen where the call was cut
    end = finish_report(again)

    assert end.startswith("END ")
    assert reference_in(end) == partial.reference
    [case] = all_cases(app)  # no second case
    assert case.id == partial.id
    assert not case.partial
    assert (case.children, case.sex, case.urgent) == ("2-3", "girls", True)
    assert [e.kind for e in case.events].count("completed") == 1

    run_jobs()
    run_jobs()
    recipients = [sms["form"]["to"] for sms in at_api.messages]
    assert recipients == [deployment.OUAKA_PHONE, deployment.OUAKA_BACKUP_PHONE]
    assert "girl" in at_api.messages[1]["form"]["message"].lower()
    with session_scope(app) as session:
        assert session.get(Case, case.id).status == CaseStatus.ROUTED
        assert len(session.scalars(select(OutboxMessage)).all()) == 2
    assert resume_records(app) == []  # offered once


def test_completing_routes_again_without_sending_twice(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)  # the Ouaka primary is a woman: completing adds nobody
    cut_and_end(client)
    run_jobs()
    again = redial(client)
    again.choose(CONTINUE)
    finish_report(again)
    assert again.post(again.text) == again.screen  # a repeated last hop
    run_jobs()
    run_jobs()
    assert [sms["form"]["to"] for sms in at_api.messages] == [deployment.OUAKA_PHONE]
    [case] = all_cases(app)
    assert not case.partial
    with session_scope(app) as session:
        assert session.get(Case, case.id).status == CaseStatus.ROUTED


def test_start_again_goes_to_the_main_menu_and_keeps_the_partial_alert(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    cut_and_end(client)
    again = redial(client)
    again.choose(START_AGAIN)
    assert "What would you like to do" in again.screen
    [case] = all_cases(app)
    assert case.partial
    third = redial(client)
    assert "What would you like to do" in third.screen  # no offer any more


def test_a_wrong_key_on_the_offer_shows_it_again(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    cut_and_end(client)
    again = redial(client)
    screen = again.press("7")
    assert offered(screen) and "Choose a number" in screen


def cut_ago(app: Flask, seconds: float) -> None:
    """Move the kept record's time back, as if the call had been cut that long ago."""
    redis = app.extensions["redis"]
    [key] = resume_records(app)
    record = json.loads(redis.get(key))
    record["saved_at"] = time.time() - seconds
    redis.set(key, json.dumps(record), keepttl=True)


def test_offered_within_five_minutes(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    cut_and_end(client)
    cut_ago(app, 290)
    assert offered(redial(client).screen)


def test_no_offer_after_five_minutes(app: Flask, client: FlaskClient) -> None:
    assert app.config["RESUME_WINDOW"] == 300
    deployment.standard(app)
    cut_and_end(client)
    cut_ago(app, 301)  # cut off five minutes and a second ago
    again = redial(client)
    assert not offered(again.screen)
    assert "What would you like to do" in again.screen


def test_the_window_is_a_setting(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(RESUME_WINDOW=0)
    client = app.test_client()
    deployment.standard(app)
    cut_and_end(client)
    assert len(all_cases(app)) == 1  # still saved and routed, only not offered
    assert not offered(redial(client).screen)


def test_no_offer_to_another_phone(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    cut_and_end(client)
    assert not offered(redial(client, phone="+243970005678").screen)
    assert offered(redial(client).screen)


def test_cut_again_after_continuing_keeps_one_case(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    cut_and_end(client)
    second = redial(client)
    second.choose(CONTINUE)
    second.press("2")  # in the last 3 days, then cut again
    end_session(client, second, "Failed")
    third = redial(client)
    assert "Who did it?" in third.choose(CONTINUE)
    # An armed group, under 15, 2-3 girls, no boys, in danger now, no SMS; send.
    for key in ("1", "1", "3", "1", "1", "2"):
        third.press(key)
    end = third.press("1")
    run_jobs()
    [case] = all_cases(app)
    assert reference_in(end) == case.reference
    assert not case.partial
    assert (case.children, case.sex) == ("2-3", "girls")
    assert (case.girls, case.boys, case.answers) == ("2-3", "0", {"when": "last_3_days"})
    assert len(at_api.messages) == 1


def test_french_caller_continues_in_french(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client, phone=PHONE)
    caller.dial()
    caller.choose("Français")
    caller.press("1")
    caller.press("1")
    caller.press("1")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    cut_screen = caller.screen
    end_session(client, caller)
    again = redial(client, language="Français")
    assert offered_fr(again.screen)
    again.press("1")
    assert again.screen == cut_screen
    assert all_cases(app)[0].language == "fr"


def offered_fr(screen: str) -> bool:
    return "coupé" in screen and "Continuer" in screen and "Recommencer" in screen


# Words of the report, of its place, or that it was a report at all: none on the offer.
REPORT_WORDS = {
    "English": ["report", "alert", "recruit", "armed", "child", "ouaka", "bambari", "danger"],
    "Français": ["alerte", "signal", "recrut", "armé", "enfant", "ouaka", "bambari", "danger"],
}


def test_the_offer_comes_after_the_language_choice_and_says_nothing_of_the_report(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    cut_and_end(client)
    for language, words in REPORT_WORDS.items():
        screen = redial(client, language=language).screen  # the first screen: the languages
        assert offered(screen) or offered_fr(screen)
        assert not [word for word in words if word in screen.lower()], screen


def test_a_resumed_session_keeps_the_answers_focal_points_were_sent(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    cut_and_end(client)  # recruitment in Bambari, routed as a partial alert
    run_jobs()
    [sent] = [sms["form"]["message"] for sms in at_api.messages]
    assert "recruit" in sent.lower() and "Bambari" in sent

    again = redial(client)
    again.choose(CONTINUE)
    for _ in range(4):  # back to the category, to change what was already sent
        if "What happened?" in again.screen:
            break
        again.press("0")
    again.choose("Abducted")
    again.choose("Ouaka")
    again.choose("Bambari")
    end = finish_report(again)
    assert end.startswith("END ")
    run_jobs()

    [case] = all_cases(app)
    assert not case.partial
    assert case.category == "recruitment"  # as the focal points were sent it
    assert case.location is not None and case.location.pcode == "CF521"
    assert (case.children, case.sex, case.urgent) == ("2-3", "girls", True)  # were unknown
    [completed] = [event for event in case.events if event.kind == "completed"]
    assert completed.detail == {"added": [
        "incident_dates", "perpetrator", "age_group", "girls", "boys", "children", "sex",
        "urgent", "when",
    ]}
    assert [sms["form"]["message"] for sms in at_api.messages] == [sent]  # nothing resent
