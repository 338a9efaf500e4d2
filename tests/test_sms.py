"""The SMS channel, through the webhook as Africa's Talking posts it, with the worker running."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flows.i18n import load_languages
from gateway.cases.references import is_valid, new_reference
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, InboundMessage, Reporter
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_ussd import reference_in

ROOT = Path(__file__).resolve().parents[1]
REPORTER = "+243970005555"
# "Reply DONE 4821937 5831 to confirm." in any language: the command to send back, code included.
CONFIRM = re.compile(r"(\w+ \d{6,8} \d{4})\b")
TRIAGE_PHONE = deployment.TRIAGE_PHONE


class Phone:
    """A reporter's phone: sends SMS to the short code, reads what comes back."""

    def __init__(
        self, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
        number: str = REPORTER,
    ) -> None:
        self.client, self.at_api, self.run_jobs, self.number = client, at_api, run_jobs, number
        self.seen = 0

    def send(self, text: str, message_id: str | None = None) -> str:
        """Send one SMS, let the worker read it, and return the replies (joined) since last."""
        response = self.client.post(
            "/africastalking/sms",
            data={
                "from": self.number, "to": "12345", "text": text,
                "date": "2026-11-27 10:00:00", "id": message_id or uuid.uuid4().hex,
                "linkId": "", "networkCode": "63001",
            },
        )
        assert response.status_code == 200, response.data
        self.run_jobs()
        return self.inbox()

    def confirm(self) -> str:
        """Send back the command the last SMS to this phone asked to confirm, with its code."""
        mine = [m for m in self.at_api.messages if m["form"]["to"] == self.number]
        assert mine, "no SMS reached this phone"
        found = CONFIRM.search(mine[-1]["form"]["message"])
        assert found, mine[-1]["form"]["message"]
        return self.send(found.group(1))

    def command(self, text: str) -> str:
        """Send a command that changes a case, then confirm it with the code; return the answer."""
        asked = self.send(text)
        assert CONFIRM.search(asked), asked
        return self.confirm()

    def inbox(self) -> str:
        """The replies that reached this phone since the last look."""
        mine = [m for m in self.at_api.messages if m["form"]["to"] == self.number]
        new, self.seen = mine[self.seen:], len(mine)
        return "\n---\n".join(m["form"]["message"] for m in new)


@pytest.fixture
def phone(app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs) -> Phone:
    deployment.with_triage(app)
    return Phone(client, at_api, run_jobs)


def cases(app: Flask) -> list[Case]:
    with session_scope(app) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def focal_point_messages(at_api: StandInAPI, number: str) -> list[str]:
    return [m["form"]["message"] for m in at_api.messages if m["form"]["to"] == number]


def test_a_whole_alert_by_sms_in_french(app: Flask, phone: Phone, at_api: StandInAPI) -> None:
    first = phone.send("Alerte !")
    assert first.startswith("Votre alerte ira aux agents de protection de l'enfance")
    assert "1 Continuer" in first
    assert "Qu'est-il arrivé" in phone.send("1")
    places = phone.send("recruté")  # an option may be named in words, accents folded
    assert "3 Ouaka" in places
    phone.send("3")
    phone.send("1")  # Bambari
    phone.send("1")  # today
    phone.send("1")  # an armed group
    phone.send("1")  # the youngest under 15
    phone.send("3")  # two or three girls
    phone.send("1")  # no boys
    details = phone.send("1")  # in danger now -> free text, by SMS only
    assert "nom" in details  # the prompt says not to write names
    phone.send("Deux filles emmenées au marché par des hommes armés")
    phone.send("non")  # no SMS later
    last = phone.send("1")  # send

    reference = reference_in(last)
    assert is_valid(reference)
    assert "effacer ces messages" in last  # the last reply suggests deleting the conversation
    [case] = cases(app)
    assert (case.reference, case.channel, case.category, case.sex) == (
        reference, "sms", "recruitment", "girls",
    )
    assert case.details and "marché" not in case.details  # kept encrypted
    assert decrypt(case.details, app) == "Deux filles emmenées au marché par des hommes armés"
    [alert] = focal_point_messages(at_api, deployment.OUAKA_PHONE)
    assert reference in alert and "Bambari" in alert
    with session_scope(app) as session:
        stored = session.scalars(select(InboundMessage)).all()
        assert len(stored) == 14 and all(m.body is None and m.reply_to is None for m in stored)


def test_a_repeated_callback_changes_nothing(app: Flask, phone: Phone) -> None:
    assert phone.send("ALERT", message_id="ATXid_same")
    assert phone.send("ALERT", message_id="ATXid_same") == ""
    with session_scope(app) as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1


def test_alert_with_words_is_one_report_for_a_person_to_read(
    app: Flask, phone: Phone, at_api: StandInAPI
) -> None:
    reply = phone.send("ALERT armed men took 3 boys near the school of Ippy")
    reference = reference_in(reply)
    assert "delete these messages" in reply
    [case] = cases(app)
    assert case.needs_triage and case.reference == reference and case.status == CaseStatus.ROUTED
    assert decrypt(case.details or "", app) == "armed men took 3 boys near the school of Ippy"
    # No place known for this sender yet: the triage desk reads it, with the words.
    [sms] = focal_point_messages(at_api, TRIAGE_PHONE)
    assert reference in sms and "armed men took 3 boys near the school of Ippy" in sms
    assert focal_point_messages(at_api, deployment.OUAKA_PHONE) == []


def test_a_message_nobody_understands_is_kept_and_answered_once_a_day(
    app: Flask, phone: Phone, at_api: StandInAPI
) -> None:
    notice = phone.send("hello are you there")  # a sender we know nothing of: French, the default
    assert "ALERTE" in notice and "SUIVI" in notice and "aucun nom" in notice
    assert phone.send("please help") == ""  # a second one the same day: no reply, no loop
    assert [case.needs_triage for case in cases(app)] == [True, True]
    # Both read by the triage desk: the first, then the hour's one summary for this sender.
    first, summary = focal_point_messages(at_api, TRIAGE_PHONE)
    assert "hello are you there" in first
    assert summary.startswith("Many reports from one sender") and "please help" in summary
    for number in (deployment.OUAKA_PHONE, deployment.NATIONAL_PHONE):
        assert focal_point_messages(at_api, number) == []


def test_status_by_sms(app: Flask, phone: Phone) -> None:
    phone.send("ALERT a child was taken")
    [case] = cases(app)
    assert phone.send(f"status {case.reference}") == f"Your report {case.reference} was received."
    typo = case.reference[:-1] + str((int(case.reference[-1]) + 1) % 10)
    assert "typing mistake" in phone.send(f"STATUS {typo}")
    unknown = new_reference()
    assert "No report has this number" in phone.send(f"STATUS {unknown}")
    # Each sender may ask six times an hour: the next guesses are slowed down.
    for _ in range(3):
        phone.send(f"STATUS {unknown}")
    assert "Too many tries" in phone.send(f"STATUS {case.reference}")


def test_language_keyword_and_a_language_remembered(app: Flask, phone: Phone) -> None:
    languages = phone.send("langue")
    assert "1 Francais" in languages and "2 English" in languages  # French folded to GSM-7
    assert phone.send("English").startswith("What would you like to do?")
    with session_scope(app) as session:
        assert session.scalar(select(Reporter.language)) == "en"
    # An English keyword from a sender who chose English; a French one switches to French.
    assert phone.send("ALERT").startswith("Your report goes to")
    assert phone.send("ALERTE").startswith("Votre alerte ira")


@pytest.mark.parametrize(
    ("keyword", "intro"),
    [("HATARI", "Endelea"), ("بلاغ", "بلاغك سري"), ("Alert.", "Continue")],
)
def test_keywords_start_the_flow_in_their_own_language(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
    keyword: str, intro: str,
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        LANGUAGES=list(load_languages(ROOT / "locales")),
    )
    deployment.standard(app)
    phone = Phone(app.test_client(), at_api, lambda: run_jobs(app))
    assert intro in phone.send(keyword)
    with session_scope(app) as session:
        [message] = session.scalars(select(InboundMessage)).all()
        assert message.outcome == "start:alert"
