"""What screens promise a reporter: confidential, we do not keep the number; never "nobody knows".

The network and the phone's history do know that a phone called or texted: screens promise only
what the gateway keeps, in every language. A report by SMS says at once that its messages can be
deleted, since a sender who gives up half-way never gets the last SMS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from flows.i18n import load_languages
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone

ROOT = Path(__file__).resolve().parents[1]
FLOWS = sorted((ROOT / "flows" / "definitions").glob("*.yaml"))
CATALOGS = sorted((ROOT / "locales").glob("*/LC_MESSAGES/messages.po"))
TEMPLATE = ROOT / "locales" / "messages.pot"

PROMISE = "It is confidential: we do not keep your number."
DELETE = "You can delete these SMS."
# Promises nobody can keep, as they were written in each shipped language.
UNTRUE = re.compile(
    r"nobody will know|no one will know|anonymous|anonyme|personne ne saura|hakuna mtu atajua"
    r"|akoyeba ete ezali yo|zo ahinga mo|a yeke na iri pepe|ezali na nkombo te|لن يعرف",
    re.IGNORECASE,
)
# The promise in each language, as drafted (see the catalogs' "# draft:" comments).
PROMISES = {
    "fr": "nous ne gardons pas votre numéro",
    "sw": "hatuhifadhi namba yako",
    "ln": "tobombaka nimero na yo te",
    "sg": "e bata numero ti mo pepe",
    "ar": "لا نحفظ رقمك",
    "pga": "ina ma gi khutu numra ta ita",
}
# Shorter, where the whole first SMS had to fit in the size of a USSD screen.
ALSO = {"fr": "votre numéro n'est pas gardé"}


def test_no_flow_and_no_catalog_promises_that_nobody_will_know() -> None:
    for path in [*FLOWS, *CATALOGS, TEMPLATE]:
        found = UNTRUE.findall(path.read_text(encoding="utf-8"))
        assert not found, (path.relative_to(ROOT), found)


@pytest.mark.parametrize("path", CATALOGS, ids=lambda path: path.parts[-3])
def test_every_intro_says_confidential_in_every_language(path: Path) -> None:
    lang = path.parts[-3]
    with path.open("rb") as fh:
        catalog = read_po(fh)
    intros = [
        message for message in catalog
        if isinstance(message.id, str) and PROMISE in message.id
    ]
    assert len(intros) == 4  # alert and complaint, on USSD and by SMS
    for message in intros:
        if lang == "en":
            assert message.string in ("", message.id)
            continue
        said = message.string.lower()
        assert PROMISES[lang] in said or ALSO.get(lang, PROMISES[lang]) in said, said
        # A draft until a native speaker checked it: flagged fuzzy (served, counted as a
        # draft by `gateway i18n check`), never hidden.
        assert "fuzzy" in message.flags, (lang, message.id)


def test_the_alert_screen_promises_only_what_is_kept(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    for language, promise in [("English", PROMISE), ("Français", PROMISES["fr"])]:
        caller = Caller(client)
        caller.dial()
        caller.choose(language)
        screen = caller.press("1")  # report a child in danger
        assert promise in screen, screen
        assert not UNTRUE.search(screen)
        assert "delete" not in screen  # no messages to delete on USSD


def test_a_complaint_screen_promises_only_what_is_kept(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    screen = caller.choose("Report misconduct")
    assert PROMISE in screen and not UNTRUE.search(screen)


def test_the_first_sms_of_a_report_says_the_messages_can_be_deleted(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.with_triage(app)
    phone = Phone(client, at_api, run_jobs)
    first = phone.send("ALERT")
    assert first.startswith("Your report goes to")
    assert PROMISE in first and DELETE in first
    french = Phone(client, at_api, run_jobs, number="+243970007777").send("ALERTE")
    assert ALSO["fr"] in french  # the first SMS is as short as a USSD screen
    assert "Vous pouvez effacer ces SMS." in french


def test_no_first_sms_is_cut_in_any_language(make_app: Callable[..., Flask]) -> None:
    """The engine shortens an SMS question as a USSD one: the drafts are written to fit."""
    app = make_app(LANGUAGES=list(load_languages(ROOT / "locales")))
    engine = app.extensions["flow_engine"]
    for flow in ("alert", "complaint", "help"):
        step = engine.flows[flow].steps["intro_sms"]
        assert step.channels == ("sms",) and step.text and "delete" in step.text
        for lang in engine.languages:
            for can_back in (False, True):  # by keyword, or from the main menu
                menu = engine.menu_at(flow, "intro_sms", lang, can_back=can_back)
                assert menu.header == engine.translate(lang, step.text), (flow, lang)
