"""Issue 13: a complaint or help request may leave a number for a support service's call.

Only with a yes is the number kept, encrypted, and sent to victim assistance (complaints) or
services (help requests), never to child protection, conduct or coordinators; it is erased when
the case closes (DONE) or after 30 days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from gateway.privacy.retention import purge
from gateway.storage.db import session_scope
from gateway.storage.models import ContactConsent, Gender, Role, utcnow
from tests import deployment
from tests.conftest import StandInAPI
from tests.test_anonymity import TRACES, database_text
from tests.test_commands_confirmed import code_in
from tests.test_complaints import (
    ASSISTANCE_PHONE,
    CALLER,
    CONDUCT_PHONE,
    COORDINATOR_PHONE,
    CP_PHONES,
    case_by,
    complain,
    to,
    with_conduct,
)
from tests.test_help import ask_for_help
from tests.test_sms import Phone
from tests.test_ussd import reference_in

HELP_CALLER = "+243970006666"
SERVICES_PHONE = "+23670000051"
RULE = "contact numbers after their limit or their case's close"


def consents(app: Flask) -> list[ContactConsent]:
    with session_scope(app) as session:
        found = list(session.scalars(select(ContactConsent)))
        session.expunge_all()
        return found


def number_anywhere(app: Flask, number: str) -> bool:
    text = database_text(app)
    return number in text or number.lstrip("+") in text


def test_yes_in_the_evening_gives_assistance_the_number_and_time_and_nobody_else(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    last = complain(client, what="Other misconduct", help_now="No", contact="evening")
    reference = reference_in(last)
    run_jobs()
    # Victim assistance receives the case (the caller asked for support), then the number.
    contact = [sms for sms in to(at_api, ASSISTANCE_PHONE) if CALLER in sms]
    assert len(contact) == 1
    assert reference in contact[0] and "in the evening" in contact[0]
    for number in (CONDUCT_PHONE, COORDINATOR_PHONE, *CP_PHONES):
        assert all(CALLER not in sms for sms in to(at_api, number))
    # Encrypted at rest: the number, in any form, is nowhere in the database.
    assert not number_anywhere(app, CALLER)
    assert all(trace not in database_text(app) for trace in TRACES[:1])
    [consent] = consents(app)
    assert consent.number is not None and consent.safe_time == "evening"
    assert case_by(app, reference).answers["contact"] == "evening"


def test_done_erases_the_number(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = reference_in(complain(client, contact="evening"))
    run_jobs()
    conduct = Phone(client, at_api, run_jobs, number=CONDUCT_PHONE)
    conduct.seen = len(to(at_api, CONDUCT_PHONE))
    code = code_in(conduct.send(f"DONE {reference}"))
    conduct.send(f"DONE {reference} {code}")
    assert case_by(app, reference).closed_at is not None
    [consent] = consents(app)
    assert consent.number is None and consent.erased_at is not None


def test_stop_from_the_reporter_withdraws_the_consent(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    complain(client, contact="afternoon")
    Phone(client, at_api, run_jobs, number=CALLER).send("STOP")
    [consent] = consents(app)
    assert consent.number is None and consent.erased_at is not None


def test_the_number_is_erased_after_30_days_by_the_purge(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    complain(client, contact="morning")
    assert purge(app)[RULE] == 0
    with session_scope(app) as session:
        session.execute(update(ContactConsent).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert purge(app)[RULE] == 1
    [consent] = consents(app)
    assert consent.number is None


def test_no_keeps_nothing(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = reference_in(complain(client, contact="No"))
    run_jobs()
    assert consents(app) == []
    assert "contact" not in (case_by(app, reference).answers or {})
    assert all(CALLER not in m["form"]["message"] for m in at_api.messages)


def test_a_help_request_gives_services_the_number_and_child_protection_never(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    deployment.add_focal_point(app, name="Services man", phone="+23670000052", pcodes=["CF52"],
                               role=Role.SERVICES, gender=Gender.MALE)
    deployment.add_focal_point(app, name="Services woman", phone=SERVICES_PHONE,
                               pcodes=["CF"], role=Role.SERVICES, gender=Gender.FEMALE)
    ask_for_help(client, contact="afternoon")
    run_jobs()
    # A girl: the nearest woman of the role is added, and she alone gets the number.
    [contact] = [sms for sms in to(at_api, SERVICES_PHONE) if HELP_CALLER in sms]
    assert "in the afternoon" in contact
    assert all(HELP_CALLER not in sms for sms in to(at_api, "+23670000052"))
    for number in CP_PHONES:
        assert to(at_api, number) == []
    assert not number_anywhere(app, HELP_CALLER)
