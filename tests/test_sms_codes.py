"""Issue 18: reports in one SMS (numbers or words), the HELP card, fewer replies per conversation.

Through the webhook as Africa's Talking posts it, with a real worker, a real database and Redis;
the local stand-in of the provider's API records every SMS sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flows.gsm import sms_segments
from flows.i18n import load_languages
from gateway.channels.sms.card import help_card
from gateway.conversation import get_catalogs, get_engine
from gateway.storage.db import session_scope
from gateway.storage.models import InboundMessage, OutboxMessage, OutboxPurpose
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_anonymity import PHONE as TRACED_PHONE
from tests.test_anonymity import TRACES, database_text, redis_bytes
from tests.test_sms import Phone, cases, focal_point_messages
from tests.test_ussd import reference_in

ROOT = Path(__file__).resolve().parents[1]
# Recruitment; Ouaka (3), Bambari (1); today; an armed group; under 15; 2-3 girls; no boys;
# in danger now: the numbers of the menus, in the flow's order.
NUMBERS = "1 3 1 1 1 1 3 1 1"
# The same after "ALERTE <category> Bambari" in words: when .. urgent, in order.
REST = "1 1 1 3 1 1"

# Per language: the keyword, then a word of the recruitment option's label in that language
# (drafts where the catalog marks them fuzzy: tested all the same).
WORDS = {
    "fr": ("ALERTE", "recrutement"),
    "en": ("ALERT", "recruited"),
    "sw": ("HATARI", "ameingizwa"),
    "sg": ("KPALE", "asara"),  # "aturugu" also names "army" (who did it?): asked, not guessed
    "ln": ("LIKAMA", "akotisami"),
    "ar": ("بلاغ", "تجنيد"),
    "pga": ("KHATAR", "dakhalu"),
}


@pytest.fixture
def phone(app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs) -> Phone:
    """A reporter's phone on the deployment with a national triage desk."""
    deployment.with_triage(app)
    return Phone(client, at_api, run_jobs)


@pytest.fixture
def every_language(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None]
) -> tuple[Flask, Callable[[str], Phone]]:
    """An app offering every language of locales/, and phones on it."""
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        LANGUAGES=list(load_languages(ROOT / "locales")),
        # Long replies in UCS-2 scripts (Arabic) would wait for their turn at the pace: these
        # tests read what is understood, not the pacing (tests/workers/test_throttle.py).
        SMS_SEGMENTS_PER_SECOND=0,
    )
    deployment.with_triage(app)
    client = app.test_client()
    return app, lambda number: Phone(client, at_api, lambda: run_jobs(app), number=number)


def assert_the_alert(
    app: Flask, at_api: StandInAPI, reply: str, lang: str, *, details: bool = False
) -> None:
    """The one case of the report: recruitment in Bambari, girls, urgent, routed to Ouaka."""
    reference = reference_in(reply)
    [case] = cases(app)
    assert (case.reference, case.channel, case.category, case.language) == (
        reference, "sms", "recruitment", lang,
    )
    assert (case.girls, case.boys, case.sex, case.urgent) == ("2-3", "0", "girls", True)
    assert not case.needs_triage and not case.callback_requested
    assert (case.details is not None) == details
    [alert] = focal_point_messages(at_api, deployment.OUAKA_PHONE)
    assert reference in alert and "Bambari" in alert


@pytest.mark.parametrize("lang", list(WORDS))
def test_a_one_sms_report_by_numbers_in_each_language(
    every_language: tuple[Flask, Callable[[str], Phone]], at_api: StandInAPI, lang: str
) -> None:
    app, phone_for = every_language
    keyword, _word = WORDS[lang]
    reply = phone_for("+243970007001").send(f"{keyword} {NUMBERS}")
    assert reply.count("\n---\n") == 0  # one reply: the reference
    assert_the_alert(app, at_api, reply, lang)
    with session_scope(app) as session:
        [message] = session.scalars(select(InboundMessage)).all()
        assert message.outcome == "coded" and message.body is None


@pytest.mark.parametrize("lang", list(WORDS))
def test_a_one_sms_report_in_words_asks_only_what_is_missing_in_one_sms(
    every_language: tuple[Flask, Callable[[str], Phone]], at_api: StandInAPI, lang: str
) -> None:
    app, phone_for = every_language
    keyword, word = WORDS[lang]
    reporter = phone_for("+243970007002")
    asked = reporter.send(f"{keyword} {word} Bambari")
    assert "---" not in asked  # one SMS, listing the missing questions with their options
    engine = get_engine(app)
    steps = engine.flows["alert"].steps
    for name in ("when", "perpetrator", "age", "girls", "boys", "urgent"):
        assert engine.translate(lang, steps[name].text or "") in asked, name
    for name in ("category", "place", "callback", "confirm"):
        assert engine.translate(lang, steps[name].text or "") not in asked, name
    assert cases(app) == []  # nothing filed before the answer
    assert_the_alert(app, at_api, reporter.send(REST), lang)


def test_words_in_any_order_the_reporters_words_and_ambiguity_asked_not_guessed(
    app: Flask, phone: Phone, at_api: StandInAPI
) -> None:
    asked = phone.send("ALERT Bambari recruitment today under 15")
    assert asked.startswith("To finish, reply with one answer per question, in order:")
    assert "When did it happen?" not in asked and "How old" not in asked
    assert "Who did it?" in asked and "How many girls?" in asked
    # "None" could be the girls or the boys: answers neither; both are asked again.
    # "armed" and "group" name the recruitment option too: the army's words answer "who".
    again = phone.send("army none yes")
    assert again.splitlines()[1:] == [
        "How many girls? 1=None 2=One 3=Two or three 4=Four to nine 5=Ten or more 6=Don't know",
        "How many boys? 1=None 2=One 3=Two or three 4=Four to nine 5=Ten or more 6=Don't know",
    ]
    assert "Choose a number" in phone.send("they were taken at night")  # not an answer
    assert cases(app) == []
    last = phone.send("3 1")
    assert_the_alert(app, at_api, last, "en")
    assert "delete these messages" in last


def test_a_place_with_places_under_it_asks_which_one(
    app: Flask, phone: Phone, at_api: StandInAPI
) -> None:
    asked = phone.send("ALERT 1 3")  # recruitment, Ouaka: which place in Ouaka?
    assert "Where is it happening? 1=Bambari 2=Ippy 3=Not sure / elsewhere in Ouaka" in asked
    assert_the_alert(app, at_api, phone.send("1 " + REST), "en")


@pytest.mark.parametrize(
    "text",
    [
        "ALERT armed men took 3 boys near the school of Ippy",  # words that name nothing
        "ALERT 1 3 1 1 1 1 3 1 1 1 1 1 1",  # more numbers than questions
        "ALERT 1 42",  # a number no menu has
        "ALERT girls danger",  # words about questions, but no answer
    ],
)
def test_what_is_not_a_one_sms_report_stays_a_report_for_a_person_to_read(
    app: Flask, phone: Phone, at_api: StandInAPI, text: str
) -> None:
    reference = reference_in(phone.send(text))
    [case] = cases(app)
    assert case.needs_triage and case.reference == reference
    [page] = focal_point_messages(at_api, deployment.TRIAGE_PHONE)
    assert text.partition(" ")[2] in page


def test_help_answers_the_card_of_codes_in_the_senders_language(
    app: Flask, phone: Phone
) -> None:
    card = phone.send("HELP")
    assert card.startswith("ALERT 1=Recruited 2=Killed 3=Sexual")
    assert sms_segments(card) == 1
    phone.send("LANGUE")
    phone.send("1")  # Français
    card = phone.send("help")
    assert card.startswith("ALERTE 1=Recruté") and sms_segments(card) == 1
    assert phone.send("aide") == card  # the French keyword too
    with session_scope(app) as session:
        assert session.scalars(select(InboundMessage.outcome)).all()[-1] == "help"
    assert cases(app) == []  # the card files nothing
    # HELP with words is a message a person must read, not a request for the card.
    phone.send("HELP they took my brother to the camp")
    [case] = cases(app)
    assert case.needs_triage


@pytest.mark.parametrize("lang", ["en", "fr", "sw", "sg", "ln", "pga", "ar"])
def test_the_card_is_built_for_each_language(
    every_language: tuple[Flask, Callable[[str], Phone]], lang: str
) -> None:
    app, _phone_for = every_language
    with app.app_context():
        card = help_card(get_engine(app), get_catalogs(app), lang)
    assert card.split()[0] in {word for word, _ in WORDS.values()} | {"ALERT"}
    assert "1=" in card and "9=" in card
    assert sms_segments(card) <= (1 if lang != "ar" else 4)


def test_a_conversation_costs_fewer_replies(
    app: Flask, phone: Phone, at_api: StandInAPI
) -> None:
    """A whole report in English: 14 replies with one question each, 11 now."""
    script = [
        ("ALERT", "Your report goes to"),
        ("1", "What happened?"),
        ("1", "Where is it happening?"),
        ("3", "Bambari"),
        ("1", "When did it happen?"),
        ("1", "Who did it?"),
        # Two questions fit one SMS: the youngest's age, then the girls.
        ("1", "How old is the youngest child? 1=Under 15 2=15 to 17 3=Don't know\nHow many girls?"),
        ("1 3", "How many boys? 1=None"),  # boys and "in danger now?"
        ("1 1", "Anything to add?"),
        ("Two girls taken at the market", "1=Yes, send me an SMS 2=No\nSend your report now?"),
    ]
    for text, expected in script:
        reply = phone.send(text)
        assert expected in reply, (text, reply)
        assert sms_segments(reply) == 1 or expected in ("What happened?",), reply
    last = phone.send("2 1")  # no SMS later; send
    assert_the_alert(app, at_api, last, "en", details=True)
    with session_scope(app) as session:
        replies = session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == OutboxPurpose.REPORTER_REPLY)).all()
    assert len(replies) == len(script) + 1 == 11  # was 14: one reply per question


def test_a_single_answer_still_answers_the_first_question_of_a_reply(phone: Phone) -> None:
    for text in ("ALERT", "1", "1", "3", "1", "1", "1"):
        phone.send(text)
    assert phone.send("1").startswith("How many girls?")  # age only; the girls asked again
    assert "Choose a number" in phone.send("1 1 1 1")  # more answers than questions


def test_no_number_or_words_of_a_one_sms_report_anywhere(
    app: Flask, phone: Phone, at_api: StandInAPI,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    redis = app.extensions["redis"]
    reporter = Phone(phone.client, at_api, phone.run_jobs, number=TRACED_PHONE)
    reporter.send(f"ALERT {NUMBERS}")
    reporter.send("ALERT recruited Bambari quartermaster")  # a word that names nothing
    reporter.send("ALERT recruited Bambari")
    mid_report = redis_bytes(redis)  # the missing questions' state, encrypted
    reporter.send(REST)
    reporter.send("HELP")
    assert len(cases(app)) == 3

    stored = database_text(app)
    in_redis = mid_report + redis_bytes(redis)
    output = capsys.readouterr()
    logs = caplog.text + output.out + output.err
    for trace in [*TRACES, "quartermaster", "recruited Bambari", NUMBERS]:
        assert trace not in stored, trace
        assert trace.encode() not in in_redis, trace
        assert trace not in logs, trace
