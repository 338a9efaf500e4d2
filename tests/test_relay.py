"""Relay: a registered focal point reports for someone who told them (RELAY, or USSD option)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.commands import cases as cases_commands
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Callback,
    Case,
    CaseKind,
    ContactConsent,
    FocalPoint,
    InboundMessage,
    OutboxMessage,
    OutboxPurpose,
    Reporter,
)
from tests import deployment
from tests.caller import Caller
from tests.conftest import TEST_SECRET, StandInAPI
from tests.test_complaints import ASSISTANCE_PHONE, CONDUCT_PHONE, to, with_conduct
from tests.test_sms import REPORTER, Phone
from tests.test_ussd import reference_in

RELAY_OPTION = "Report for someone else"
CALLBACK_QUESTION = "Do you want one SMS"
WORDS = "A mother says two girls were taken at the market"


def focal_point_id(app: Flask, phone: str) -> int:
    with session_scope(app) as session:
        found = session.scalar(select(FocalPoint.id).where(FocalPoint.phone == phone))
        assert found is not None
        return found


def the_case(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.expunge(case)
        return case


def relay_alert_by_sms(ouaka: Phone) -> tuple[str, list[str]]:
    """Ouaka's focal point relays an alert by SMS; return the reference and every reply."""
    replies = [ouaka.send("RELAY")]
    assert replies[0].startswith(RELAY_OPTION)
    assert "1 Report a child in danger" in replies[0]
    assert "2 Report misconduct by personnel" in replies[0]
    for answer in ("1", "1", "1", "3", "1", "1", "1", "1", "3", "1", "1", WORDS):
        replies.append(ouaka.send(answer))
    assert replies[-1].startswith("Send your report now?"), replies[-1]  # no callback asked
    replies.append(ouaka.send("1"))
    return reference_in(replies[-1]), replies


def test_a_focal_point_relays_an_alert_by_sms(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    reference, replies = relay_alert_by_sms(ouaka)
    assert not any(CALLBACK_QUESTION in reply for reply in replies)

    case = the_case(app, reference)
    assert case.relayed_by_id == focal_point_id(app, deployment.OUAKA_PHONE)
    assert case.reporter_id is None  # the focal point is staff, not the reporter
    assert not case.callback_requested
    assert (case.category, case.girls, case.boys, case.urgent) == ("recruitment", "2-3", "0", True)
    assert decrypt(case.details or "", app) == WORDS
    with session_scope(app) as session:
        assert session.scalars(select(Reporter)).all() == []
        assert session.scalars(select(Callback)).all() == []
    # Bambari's primary is the relayer: the case also goes to the backup, with the relay noted.
    [backup] = to(at_api, deployment.OUAKA_BACKUP_PHONE)
    assert reference in backup and backup.endswith("Relayed by Ouaka CP.")
    assert to(at_api, deployment.NATIONAL_PHONE) == []

    # Followed up: no SMS to the focal point as a "reporter".
    backup_phone = Phone(client, at_api, run_jobs, number=deployment.OUAKA_BACKUP_PHONE)
    backup_phone.seen = 1
    assert reference in backup_phone.command(f"OK {reference}")
    with session_scope(app) as session:
        purposes = session.scalars(select(OutboxMessage.purpose)).all()
        assert OutboxPurpose.REPORTER_ACK not in purposes
    assert reference not in ouaka.inbox()


def test_a_relay_is_not_routed_back_to_the_relayer_alone_nor_without_them(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    # The national focal point relays an alert in Bambari: Ouaka's primary receives it as usual.
    national = Phone(client, at_api, run_jobs, number=deployment.NATIONAL_PHONE)
    assert "2 " in national.send("RELAY")  # in their language (French): the same keys
    for answer in ("1", "1", "1", "3", "1", "1", "1", "1", "3", "1", "2", "1"):
        national.send(answer)
    reference = reference_in(national.send("1"))
    [sms] = to(at_api, deployment.OUAKA_PHONE)
    assert reference in sms and "National CP" in sms
    assert to(at_api, deployment.OUAKA_BACKUP_PHONE) == []


def test_a_focal_points_number_relays_an_alert_by_ussd(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    caller = Caller(client, phone=deployment.OUAKA_PHONE)
    caller.dial()
    caller.choose("English")
    if RELAY_OPTION not in caller.screen:
        caller.press("98")  # More
    assert caller.options()["6"] == RELAY_OPTION  # last: the others keep their numbers
    caller.choose(RELAY_OPTION)
    assert caller.screen.startswith(f"CON {RELAY_OPTION}")
    caller.choose("child in danger")
    caller.choose("Continue")
    caller.choose("Recruited")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    for key in ("1", "1", "1", "3", "1", "2"):  # today, armed group, under 15, 2-3 girls...
        caller.press(key)
    assert "Send your report now?" in caller.screen
    end = caller.choose("Send")
    assert end.startswith("END ")
    assert not any(CALLBACK_QUESTION in screen for screen in caller.screens)
    reference = reference_in(end)
    case = the_case(app, reference)
    assert case.relayed_by_id == focal_point_id(app, deployment.OUAKA_PHONE)
    assert case.reporter_id is None and case.channel == "ussd" and case.urgent is False
    run_jobs()
    [backup] = to(at_api, deployment.OUAKA_BACKUP_PHONE)
    assert reference in backup and "Relayed by Ouaka CP" in backup


def test_other_numbers_never_see_the_relay_option(app: Flask, client: FlaskClient) -> None:
    with_conduct(app)  # conduct focal points may not relay: the accused may be their side
    for number in ("+243970001234", CONDUCT_PHONE):
        caller = Caller(client, phone=number)
        caller.dial()
        caller.choose("English")
        assert set(caller.options()) == {"1", "2", "3", "4", "5", "0"}, caller.screen
        assert "98" not in caller.screen  # one page: nothing more
        caller.press("6")  # not an option for them: the same menu with a hint
        assert "Choose a number below" in caller.screen
        assert not any("someone else" in screen for screen in caller.screens)


def test_a_conduct_focal_point_cannot_relay_by_sms(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    conduct = Phone(client, at_api, run_jobs, number=CONDUCT_PHONE)
    reply = conduct.send("RELAY")
    assert RELAY_OPTION not in reply
    assert reply.startswith("Send OK, INFO or DONE")  # their usual commands' usage
    assert "Continue" not in conduct.send("1")
    with session_scope(app) as session:
        assert session.scalars(select(Case)).all() == []


def test_a_relayed_complaint_goes_to_conduct_only_with_the_relay_noted(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.send("RELAY")
    replies = [ouaka.send(answer) for answer in ("2", "1", "1", "1", "3", "1", "1", "1", "4")]
    assert replies[-1].startswith("Send your report now?")  # no callback, no call asked
    reference = reference_in(ouaka.send("1"))
    case = the_case(app, reference)
    assert case.kind == CaseKind.COMPLAINT and case.reporter_id is None
    assert case.relayed_by_id == focal_point_id(app, deployment.OUAKA_PHONE)
    with session_scope(app) as session:
        assert session.scalars(select(ContactConsent)).all() == []
    [conduct] = to(at_api, CONDUCT_PHONE)
    assert reference in conduct and "Relayed by Ouaka CP." in conduct
    for number in (deployment.OUAKA_BACKUP_PHONE, deployment.NATIONAL_PHONE, ASSISTANCE_PHONE):
        assert to(at_api, number) == []
    assert not any("Conduct complaint" in sms for sms in to(at_api, deployment.OUAKA_PHONE))


def test_relay_from_any_other_number_is_an_ordinary_message(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.with_triage(app)
    phone = Phone(client, at_api, run_jobs, number=REPORTER)
    notice = phone.send("RELAY")
    assert notice.startswith("Message re") and "RELAY" not in notice
    assert "someone else" not in notice.lower()
    with session_scope(app) as session:
        [case] = session.scalars(select(Case)).all()
        assert case.needs_triage and case.relayed_by_id is None
        assert session.scalar(select(InboundMessage.outcome)) == "triage"


def test_cases_show_names_the_relayer(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment.standard(app)
    reference, _ = relay_alert_by_sms(Phone(client, at_api, run_jobs,
                                            number=deployment.OUAKA_PHONE))
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    group = click.Group("gateway", commands=cases_commands.COMMANDS)
    shown = CliRunner().invoke(group, ["cases", "show", reference])
    assert shown.exit_code == 0, shown.output
    assert "relayed by: Ouaka CP (child_protection)" in shown.output
    assert deployment.OUAKA_PHONE not in shown.output


def test_a_relay_cut_off_by_the_network_stays_a_relay(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    from tests.test_ussd_events import end_session

    deployment.standard(app)
    caller = Caller(client, phone=deployment.OUAKA_PHONE)
    caller.dial()
    caller.choose("English")
    if RELAY_OPTION not in caller.screen:
        caller.press("98")  # More
    caller.choose(RELAY_OPTION)
    caller.choose("child in danger")
    caller.choose("Continue")
    caller.choose("Recruited")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    assert end_session(client, caller) == 200  # the network cut the call here
    with session_scope(app) as session:
        [case] = session.scalars(select(Case)).all()
        # A partial case, the focal point's relay: never the focal point as its reporter.
        assert case.partial and case.category == "recruitment"
        assert case.relayed_by_id == focal_point_id(app, deployment.OUAKA_PHONE)
        assert case.reporter_id is None
