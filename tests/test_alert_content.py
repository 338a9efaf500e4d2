"""What an alert tells a focal point: when, who did it, the youngest's age, girls and boys.

Every category is asked when and who; the counts of girls and boys are kept as Primero tallies
them; the reporter's own words (SMS) reach only a focal point the case was sent to, by INFO.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, Gender, utcnow
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_complaints import COORDINATOR_PHONE, to, with_conduct
from tests.test_sms import Phone
from tests.test_ussd import reference_in

WORDS = "Two girls taken near the market by armed men"


def pick(caller: Caller, label: str) -> str:
    """Press the option that starts with label, turning pages ("98 More") to find it."""
    while True:
        for number, text in caller.options().items():
            if text.lower().startswith(label.lower()) and number not in ("0", "98"):
                return caller.press(number)
        assert "98" in caller.options(), f"no option {label!r} on screen:\n{caller.screen}"
        caller.press("98")


def alert(
    client: FlaskClient,
    category: str = "Recruited",
    *,
    then: tuple[str, ...] = (),
    when: str = "In the last 3 days",
    who: str = "Army or police",
    age: str = "Under 15",
    girls: str = "Two or three",
    boys: str = "One",
    danger: str = "Yes",
    phone: str = "+243970001234",
) -> str:
    """Report by USSD in English, choosing every answer by its label; return the reference."""
    caller = Caller(client, phone=phone)
    caller.dial()
    caller.choose("English")
    caller.press("1")  # report a child in danger
    caller.press("1")  # continue
    pick(caller, category)
    for label in then:  # the follow-up question of a category (harm, attack)
        pick(caller, label)
    caller.choose("Ouaka")
    caller.choose("Bambari")
    assert "When did it happen?" in caller.screen
    pick(caller, when)
    assert "Who did it?" in caller.screen
    pick(caller, who)
    assert "youngest" in caller.screen
    pick(caller, age)
    assert "How many girls?" in caller.screen
    pick(caller, girls)
    assert "How many boys?" in caller.screen
    pick(caller, boys)
    pick(caller, danger)
    pick(caller, "No")  # no SMS when it is followed up
    return reference_in(pick(caller, "Send"))


def case_by(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        return case


def test_the_case_and_the_focal_points_sms_say_when_who_age_girls_and_boys(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = alert(client)
    case = case_by(app, reference)
    today = utcnow().date()
    assert (case.incident_from, case.incident_to) == (today - timedelta(days=3), today)
    assert (case.perpetrator, case.age_group, case.girls, case.boys) == (
        "state_forces", "under_15", "2-3", "1",
    )
    # Derived for routing and for readers of the older columns: at least 3, girls and boys.
    assert (case.children, case.sex) == ("2-3", "both")
    assert case.answers == {"when": "last_3_days"}
    run_jobs()
    [sms] = to(at_api, deployment.OUAKA_PHONE)
    assert sms == (
        f"URGENT child alert {reference}: recruitment, Bambari (Ouaka), last 3 days. "
        "Girls 2-3, boys 1, under 15. By army/police. Child in danger now."
    )
    assert len(sms) <= 160


def test_an_alert_not_known_at_all_reads_as_not_known(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = alert(client, "Other", when="Don't know", who="Don't know", age="Don't know",
                      girls="Don't know", boys="Don't know", danger="Don't know")
    case = case_by(app, reference)
    assert (case.incident_from, case.incident_to) == (None, None)
    assert (case.perpetrator, case.age_group, case.girls, case.boys) == (
        "unknown", "unknown", "unknown", "unknown",
    )
    assert (case.children, case.sex, case.urgent) == ("unknown", "unknown", None)
    run_jobs()
    [sms] = to(at_api, deployment.OUAKA_PHONE)
    assert sms == (
        f"Child alert {reference}: other, Bambari (Ouaka), date not known. "
        "Girls ?, boys ?, age not known. By not known. Danger now: not known."
    )


def test_earlier_is_an_open_range_ending_a_month_ago(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    case = case_by(app, alert(client, "Abducted", when="Earlier", who="An armed group"))
    assert (case.incident_from, case.incident_to) == (None, utcnow().date() - timedelta(days=30))
    assert case.perpetrator == "armed_group"


def test_dont_know_what_was_attacked_is_not_taken_for_a_school(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    unknown = alert(client, "School/hospital attacked", then=("Don't know",), danger="No")
    occupied = alert(client, "School/hospital attacked", then=("Occupied by fighters",),
                     danger="No", phone="+243970001235")
    school = alert(client, "School/hospital attacked", then=("A school",), danger="No",
                   phone="+243970001236")
    assert case_by(app, unknown).category == "attack_on_schools_or_hospitals"
    assert case_by(app, occupied).category == "military_use"
    assert case_by(app, school).category == "attack_on_schools"
    run_jobs()
    texts = to(at_api, deployment.OUAKA_PHONE)
    assert any(unknown in t and "attack on school/hospital" in t for t in texts)
    assert any(occupied in t and "military use of school/hospital" in t for t in texts)


def test_dont_know_killed_or_injured_keeps_maiming(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    reference = alert(client, "Killed or injured", then=("Don't know",))
    assert case_by(app, reference).category == "maiming"  # may be alive: help first


def test_a_threat_is_urgent_even_when_no_child_is_in_danger_yet(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.add_places(app)
    # Coverage written before threats existed: recruitment covers them.
    deployment.add_focal_point(app, name="Recruitment", phone=deployment.OUAKA_PHONE,
                               pcodes=["CF52"], categories=["recruitment"])
    reference = alert(client, "A threat", when="Today", who="An armed group", danger="No")
    case = case_by(app, reference)
    assert (case.category, case.urgent, case.is_urgent) == ("threat", True, True)
    run_jobs()
    [sms] = to(at_api, deployment.OUAKA_PHONE)
    assert sms.startswith(f"URGENT child alert {reference}: threat (early warning), ")


def test_sexual_violence_in_the_last_3_days_stays_urgent_with_the_health_hint(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    caller.press("1")
    caller.press("1")
    pick(caller, "Sexual violence")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    for label in ("In the last 3 days", "Someone else", "15 to 17", "One", "None", "No", "No"):
        pick(caller, label)
    end = pick(caller, "Send")
    assert "health centre" in end
    case = case_by(app, reference_in(end))
    assert (case.category, case.urgent, case.age_group, case.sex) == (
        "sexual_violence", True, "15_17", "girls",
    )


def test_a_case_with_girls_goes_to_a_woman_as_before(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    man, woman = "+23670000061", "+23670000062"
    deployment.add_places(app)
    deployment.add_focal_point(app, name="Man", phone=man, pcodes=["CF52"], gender=Gender.MALE)
    deployment.add_focal_point(app, name="Woman", phone=woman, pcodes=["CF"])
    alert(client, "Abducted", girls="One", boys="Ten or more")
    boys_only = alert(client, "Abducted", girls="None", boys="Four to nine",
                      phone="+243970001235")
    run_jobs()
    assert len(to(at_api, man)) == 2
    [for_woman] = to(at_api, woman)  # the girl's case; the boys' stays with the nearest
    assert boys_only not in for_woman and "Girls 1, boys 10+" in for_woman
    assert case_by(app, boys_only).sex == "boys"


def sms_alert(phone: Phone) -> str:
    """Report by SMS in English with a few words; return the reference."""
    phone.send("ALERT")
    phone.send("1")  # continue
    phone.send("1")  # recruited
    phone.send("Ouaka")
    phone.send("Bambari")
    for key in ("1", "1", "1", "3", "1", "1"):  # today, armed group, under 15, 2-3 girls, no boys
        phone.send(key)
    phone.send(WORDS)
    phone.send("2")  # no SMS when it is followed up
    return reference_in(phone.send("1"))


def test_info_gives_the_reporters_words_to_a_focal_point_it_was_sent_to_only(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = sms_alert(Phone(client, at_api, run_jobs))
    case = case_by(app, reference)
    assert case.details and "market" not in case.details  # encrypted at rest
    [sent] = to(at_api, deployment.OUAKA_PHONE)
    assert "market" not in sent  # the alert itself never carries free text
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = 1
    info = ouaka.send(f"INFO {reference}")
    assert info.startswith(f"URGENT child alert {reference}: recruitment, Bambari (Ouaka), today")
    assert "Girls 2-3, boys 0, under 15. By armed group." in info
    assert info.endswith(f'Reporter wrote: "{WORDS}"')
    # The area's coordinator may act on the alert, but was not sent it: no words.
    coordinator = Phone(client, at_api, run_jobs, number=COORDINATOR_PHONE)
    answer = coordinator.send(f"INFO {reference}")
    assert answer.startswith(f"URGENT child alert {reference}") and "market" not in answer
    # A focal point of another area: the neutral answer.
    national = Phone(client, at_api, run_jobs, number=deployment.NATIONAL_PHONE)
    assert national.send(f"INFO {reference}") == f"Aucune action pour {reference}."
