"""Focal point commands that change a case act only once confirmed with a code sent to the phone.

Issue 11, item 2: caller IDs are spoofed. `DONE 4821937` from a registered number gets a one-time
code, which goes to that registered phone; only `DONE 4821937 <code>` acts. Wrong, expired,
reused or misplaced codes get the neutral answer; tries are counted per case and per number.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flows.gsm import fold_to_gsm7, sms_segments
from gateway.cases.escalation import delay_for
from gateway.cases.focal_commands import CODE_PREFIX, CODE_SECONDS, COMMAND_LIMIT
from gateway.cases.messages import (
    COMMAND_ALERT_SMS,
    COMMANDS,
    CONFIRM_REPLY,
    MOVED_REPLY,
    SLOW_REPLY,
)
from gateway.conversation import first_word, get_catalogs, get_engine
from gateway.storage.db import session_scope
from gateway.storage.models import CaseEvent, CaseEventKind, CaseKind, Gender, Role
from gateway.storage.redis import get_redis
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_complaints import (
    ASSISTANCE_PHONE,
    CONDUCT_PHONE,
    COORDINATOR_PHONE,
    case_by,
    complain,
    move_time,
    to,
    with_conduct,
)
from tests.test_follow_up import CALLER, report
from tests.test_sms import Phone
from tests.test_sms_limits import NOT_TRIAGE, SENDER, with_triage_in_ouaka
from tests.test_ussd import reference_in, walk_alert

STRANGER = "+243970004444"
NATIONAL_CONDUCT_PHONE = "+23670000028"
WARNING = re.compile(r"^(Several unconfirmed commands|Plusieurs commandes non confirmées)")
MINUTE = 60


def code_in(sms: str) -> str:
    """The code of a "Reply DONE 4821937 5831 to confirm." SMS."""
    found = re.search(r"\w+ \d{6,8} (\d{4})\b", sms)
    assert found, sms
    return found.group(1)


def code_keys(app: Flask) -> list[str]:
    """The Redis keys of the codes waiting to be confirmed."""
    return [key.decode() for key in get_redis(app).scan_iter(f"{CODE_PREFIX}:*")]


def refusals(app: Flask, reference: str) -> int:
    """How many unauthorised commands a case's history records."""
    case = case_by(app, reference)
    with session_scope(app) as session:
        return len(session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id,
            CaseEvent.kind == CaseEventKind.UNAUTHORISED_COMMAND,
        )).all())


def warnings_to(at_api: StandInAPI, number: str) -> list[str]:
    """The warnings about unconfirmed commands that reached a number."""
    return [sms for sms in to(at_api, number) if WARNING.match(sms)]


def test_a_spoofed_done_without_the_code_changes_nothing_and_the_code_goes_to_the_phone(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()
    # A spoofer writes the focal point's number in `from`: the webhook cannot tell.
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = 1
    asked = ouaka.send(f"DONE {reference}")
    assert re.fullmatch(rf"Reply DONE {reference} \d{{4}} to confirm\.", asked), asked
    code = code_in(asked)
    case = case_by(app, reference)
    assert case.closed_at is None and case.acknowledged_at is None
    # The code went to the registered phone only; no other number ever saw it.
    for message in at_api.messages:
        if code in message["form"]["message"] and "confirm" in message["form"]["message"]:
            assert message["form"]["to"] == deployment.OUAKA_PHONE
    # Kept hashed, under a key of ids only: no number, no code.
    [key] = code_keys(app)
    assert "+" not in key and deployment.OUAKA_PHONE.lstrip("+") not in key
    stored = get_redis(app).get(key)
    assert stored is not None and code not in stored.decode()
    assert 0 < get_redis(app).ttl(key) <= CODE_SECONDS
    # STATUS still answers what it did.
    reporter = Phone(client, at_api, run_jobs, number=CALLER)
    assert "closed" not in reporter.send(f"STATUS {reference}")

    assert ouaka.confirm() == f"Case {reference}: closed."
    case = case_by(app, reference)
    assert case.closed_at is not None and case.acknowledged_at is not None
    assert code_keys(app) == []
    assert "closed" in reporter.send(f"STATUS {reference}")


def test_wrong_expired_reused_or_misplaced_codes_get_the_neutral_answer(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    first = report(client, sms_later=False)
    second = reference_in(walk_alert(Caller(client, phone="+243970001111")))
    run_jobs()
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = 2
    neutral = f"No action for {first}."

    code = code_in(ouaka.send(f"DONE {first}"))
    wrong = f"{(int(code) + 1) % 10000:04d}"
    assert ouaka.send(f"DONE {first} {wrong}") == neutral
    assert ouaka.send(f"OK {first} {code}") == neutral  # another command
    assert ouaka.send(f"DONE {second} {code}") == f"No action for {second}."  # another case
    assert ouaka.send(f"INFO {first} {code}") == neutral  # INFO takes no code
    case = case_by(app, first)
    assert case.closed_at is None and case.acknowledged_at is None
    assert case_by(app, second).closed_at is None

    # Expired: the key's time runs out (no sleeping).
    [key] = code_keys(app)
    get_redis(app).expire(key, 0)
    assert ouaka.send(f"DONE {first} {code}") == neutral
    assert case_by(app, first).closed_at is None

    # Used once: the same code again changes nothing more and gets the neutral answer.
    code = code_in(ouaka.send(f"OK {first}"))
    assert ouaka.send(f"OK {first} {code}") == f"Case {first}: acknowledged. Thank you."
    assert ouaka.send(f"OK {first} {code}") == neutral
    assert case_by(app, first).acknowledged_at is not None
    assert case_by(app, first).closed_at is None
    # The second case is untouched by the first's codes.
    assert case_by(app, second).acknowledged_at is None
    assert case_by(app, second).closed_at is None
    assert refusals(app, first) == 4 and refusals(app, second) == 1


def test_assistance_neither_stops_the_conduct_escalation_nor_closes_a_complaint(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    deployment.add_focal_point(app, name="Conduct national", phone=NATIONAL_CONDUCT_PHONE,
                               pcodes=["CF"], role=Role.CONDUCT, gender=Gender.MALE)
    reference = reference_in(complain(client, when="In the last 3 days"))
    assert delay_for(case_by(app, reference)) == 3600
    run_jobs()
    assistance = Phone(client, at_api, run_jobs, number=ASSISTANCE_PHONE)
    assistance.seen = len(to(at_api, ASSISTANCE_PHONE))
    assert assistance.seen == 1
    assert assistance.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert case_by(app, reference).acknowledged_at is None  # conduct has not
    # Only conduct closes a complaint: assistance gets no code, only the neutral answer.
    assert assistance.send(f"DONE {reference}") == f"No action for {reference}."
    assert case_by(app, reference).closed_at is None
    with session_scope(app) as session:
        case = case_by(app, reference)
        acknowledged = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.ACKNOWLEDGED)).all()
        assert [event.detail["role"] for event in acknowledged] == ["assistance"]

    move_time(app, 61 * MINUTE)
    run_jobs()
    # Nobody of conduct acknowledged: the complaint went up to conduct, never a coordinator.
    [up] = to(at_api, NATIONAL_CONDUCT_PHONE)
    assert up.startswith(f"Not acknowledged yet. URGENT: Conduct complaint {reference}")
    assert to(at_api, COORDINATOR_PHONE) == []

    conduct = Phone(client, at_api, run_jobs, number=CONDUCT_PHONE)
    conduct.seen = len(to(at_api, CONDUCT_PHONE))
    assert conduct.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert conduct.command(f"DONE {reference}") == f"Case {reference}: closed."
    assert case_by(app, reference).closed_at is not None


def test_past_three_unauthorised_tries_the_coordinator_is_told_once(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()
    stranger = Phone(client, at_api, run_jobs, number=STRANGER)
    national = Phone(client, at_api, run_jobs, number=deployment.NATIONAL_PHONE)
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = 1
    code = code_in(ouaka.send(f"DONE {reference}"))
    assert stranger.send(f"DONE {reference}") == f"Aucune action pour {reference}."
    assert national.send(f"OK {reference}") == f"Aucune action pour {reference}."
    assert ouaka.send(f"DONE {reference} {(int(code) + 5) % 10000:04d}") == (
        f"No action for {reference}.")
    assert refusals(app, reference) == 3
    assert warnings_to(at_api, COORDINATOR_PHONE) == []
    assert stranger.send(f"OK {reference}") == f"Aucune action pour {reference}."
    [warning] = warnings_to(at_api, COORDINATOR_PHONE)
    assert reference in warning
    # Once: more tries are recorded, nobody is told again.
    assert stranger.send(f"INFO {reference}") == f"Aucune action pour {reference}."
    assert refusals(app, reference) == 5
    assert len(warnings_to(at_api, COORDINATOR_PHONE)) == 1
    # The warning lets the coordinator act no more than before, and the case is untouched.
    case = case_by(app, reference)
    assert case.closed_at is None and case.acknowledged_at is None
    for number in (STRANGER, deployment.NATIONAL_PHONE, CONDUCT_PHONE, ASSISTANCE_PHONE):
        assert warnings_to(at_api, number) == []


def test_for_a_complaint_the_conduct_lead_is_told_never_a_coordinator(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = reference_in(complain(client, help_now="No"))
    run_jobs()
    stranger = Phone(client, at_api, run_jobs, number=STRANGER)
    coordinator = Phone(client, at_api, run_jobs, number=COORDINATOR_PHONE)
    for _ in range(2):
        assert stranger.send(f"DONE {reference}") == f"Aucune action pour {reference}."
        assert coordinator.send(f"DONE {reference}").endswith(f" {reference}.")
    assert case_by(app, reference).closed_at is None
    [warning] = warnings_to(at_api, CONDUCT_PHONE)
    assert reference in warning
    assert warnings_to(at_api, COORDINATOR_PHONE) == []
    for sms in to(at_api, COORDINATOR_PHONE):
        assert "Conduct complaint" not in sms and "unconfirmed" not in sms


def test_commands_are_limited_per_number(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = 1
    for _ in range(COMMAND_LIMIT[0] - 1):
        assert ouaka.send(f"INFO {reference}").startswith(f"URGENT child alert {reference}")
    asked = ouaka.send(f"OK {reference}")  # the last of the hour
    assert "to confirm" in asked
    assert ouaka.confirm() == "Too many commands. Try again later."
    assert case_by(app, reference).acknowledged_at is None
    assert ouaka.send(f"INFO {reference}") == "Too many commands. Try again later."
    # Another number has its own count.
    coordinator = Phone(client, at_api, run_jobs, number=COORDINATOR_PHONE)
    assert coordinator.command(f"OK {reference}") == (
        f"Case {reference}: acknowledged. Thank you.")


def test_conduct_moves_a_case_to_triage_to_conduct_once_confirmed(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_triage_in_ouaka(app)
    walk_alert(Caller(client, phone=SENDER))  # the sender's last known place: Ouaka
    run_jobs()
    sender = Phone(client, at_api, run_jobs, number=SENDER)
    words = "the peacekeeper at the camp took a girl last night"
    reference = reference_in(sender.send(f"ALERT {words}"))
    triage = Phone(client, at_api, run_jobs, number=deployment.OUAKA_TRIAGE_PHONE)
    triage.seen = 1
    # Child protection may not move it (nor see it): the neutral answer, no code.
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.seen = len(to(at_api, deployment.OUAKA_PHONE))
    assert ouaka.send(f"CONDUCT {reference}") == f"No action for {reference}."

    asked = triage.send(f"CONDUCT {reference}")
    assert re.fullmatch(rf"Reply CONDUCT {reference} \d{{4}} to confirm\.", asked), asked
    assert case_by(app, reference).needs_triage
    assert to(at_api, CONDUCT_PHONE) == []
    assert triage.confirm() == f"Case {reference}: sent to conduct."
    case = case_by(app, reference)
    assert case.kind == CaseKind.COMPLAINT and not case.needs_triage
    # Routed again, to conduct only, with the sender's words.
    [page] = to(at_api, CONDUCT_PHONE)
    assert reference in page and words in page
    # After that no other role sees it: triage's INFO gets the neutral answer.
    assert triage.send(f"INFO {reference}") == f"No action for {reference}."
    for number in (*NOT_TRIAGE, deployment.OUAKA_TRIAGE_BACKUP_PHONE):
        if number == CONDUCT_PHONE:
            continue
        for sms in to(at_api, number):
            assert "peacekeeper" not in sms, number
    conduct = Phone(client, at_api, run_jobs, number=CONDUCT_PHONE)
    conduct.seen = 1
    assert conduct.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    assert case_by(app, reference).acknowledged_at is not None


def test_the_new_texts_fit_in_one_sms_in_every_language(app: Flask) -> None:
    catalogs, engine = get_catalogs(app), get_engine(app)
    for lang in engine.languages:
        texts = [catalogs.gettext(lang, CONFIRM_REPLY, reference="48219375",
                                  command=first_word(catalogs, lang, COMMANDS[action]),
                                  code="5831") for action in ("ok", "done", "conduct")]
        texts += [catalogs.gettext(lang, COMMAND_ALERT_SMS, reference="48219375"),
                  catalogs.gettext(lang, MOVED_REPLY, reference="48219375"),
                  catalogs.gettext(lang, SLOW_REPLY)]
        for text in texts:
            if lang in engine.gsm_fold_languages:
                text = fold_to_gsm7(text)
            assert sms_segments(text) == 1, (lang, text)
