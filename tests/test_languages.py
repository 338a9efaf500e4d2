"""The caller's language: chosen on the first screen of every call, changeable."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from flows.i18n import load_languages
from gateway.cases.references import is_valid
from gateway.storage.db import session_scope
from gateway.storage.models import Case, Reporter
from tests import deployment
from tests.caller import Caller
from tests.test_ussd import reference_in

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = list(load_languages(ROOT / "locales"))
THANKS = (
    "Thank you. Your report number is %(reference)s. "
    "Keep it somewhere safe to ask about your report later.%(service)s"
)


@pytest.fixture
def shipped(make_app: Callable[..., Flask]) -> Flask:
    """An app offering every shipped language, as a deployment does by default."""
    app = make_app(LANGUAGES=LANGUAGES)
    deployment.standard(app)
    return app


def test_every_shipped_language_is_offered_on_the_first_screen(shipped: Flask) -> None:
    names = [language.name for language in load_languages(ROOT / "locales").values()]
    assert LANGUAGES == ["fr", "en", "sg", "ln", "sw", "ar", "pga"]
    options = Caller(shipped.test_client()).dial()
    assert [line.split(" ", 1)[1] for line in options[4:].splitlines()] == names


def test_a_caller_who_chose_a_language_is_asked_again_next_time(shipped: Flask) -> None:
    """No screen shows that a phone was used before: the language choice comes first, always."""
    never_seen = Caller(shipped.test_client(), phone="+23670002222").dial()
    first = Caller(shipped.test_client(), phone="+23670001111")
    assert first.dial() == never_seen
    first.choose("English")
    assert "Report a child in danger" in first.screen

    again = Caller(shipped.test_client(), phone="+23670001111")
    assert again.dial() == never_seen
    assert again.choose("English").startswith("CON What would you like to do?")


def test_the_language_is_changed_from_the_main_menu(shipped: Flask) -> None:
    caller = Caller(shipped.test_client(), phone="+23670003333")
    caller.dial()
    caller.choose("English")
    caller.choose("Change language")
    assert "Kiswahili" in caller.screen and "Back" in caller.screen
    caller.choose("Français")
    assert caller.screen.startswith("CON Que voulez-vous faire ?")

    again = Caller(shipped.test_client(), phone="+23670003333")
    assert "Français" in again.dial() and "Que voulez" not in again.screen
    # Hops keep the language in Redis only; the session's end writes it to the database.
    caller.hang_up()
    with session_scope(shipped) as session:
        languages = session.scalars(select(Reporter.language)).all()
    assert languages == ["fr"]  # kept for SMS replies: one row for the pseudonym, no number


def test_a_dial_string_answers_the_language_choice(shipped: Flask) -> None:
    """*384*1234*2# arrives as text "2" on the first hop: English chosen, the main menu shown."""
    caller = Caller(shipped.test_client(), phone="+23670004444")
    caller.inputs.append("2")
    assert caller.post("2").startswith("CON What would you like to do?")
    assert caller.press("1").startswith("CON Your report goes to")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_alert_flow_end_to_end_in_each_language(shipped: Flask, lang: str) -> None:
    """Walk the alert by numbers, every screen fitting; the END is in the caller's language."""
    catalogs = shipped.extensions["catalogs"]
    caller = Caller(shipped.test_client(), phone=f"+2367000{LANGUAGES.index(lang):04d}")
    caller.dial()
    caller.press(str(LANGUAGES.index(lang) + 1))
    menu = catalogs.gettext(lang, "What would you like to do?")
    assert caller.screen.startswith("CON ") and menu.split()[0][:3] in caller.screen
    for key in ["1", "1", "1"]:  # the alert; who receives it; recruited
        caller.press(key)
    caller.choose("Ouaka")
    caller.choose("Bambari")
    # Today; armed group; under 15; two or three girls; no boys; in danger now; no SMS later.
    for key in ["1", "1", "1", "3", "1", "1", "2"]:
        caller.press(key)
    end = caller.press("1")  # send

    assert end.startswith("END ")
    reference = reference_in(end)
    assert is_valid(reference)
    if lang != "en":
        translated = catalogs.gettext(lang, THANKS, reference=reference, service="")
        assert translated != THANKS % {"reference": reference, "service": ""}, (
            f"{lang} is not translated"
        )
    # No service directory here: the last screen names none.
    assert end[4:] == shipped.extensions["flow_engine"].translate(
        lang, THANKS, reference=reference, service=""
    )
    with session_scope(shipped) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None and case.language == lang and case.category == "recruitment"


def test_a_language_babel_does_not_know_is_one_catalog_and_one_line(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", locales)
    with (locales / "languages.toml").open("a", encoding="utf-8") as fh:
        fh.write('kg = { name = "Kikongo" }\n')
    catalog = locales / "kg" / "LC_MESSAGES"
    catalog.mkdir(parents=True)
    (catalog / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: kg\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "What would you like to do?"\nmsgstr "Nki nge zola kusala?"\n',
        encoding="utf-8",
    )
    app = make_app(LOCALES_DIR=str(locales), LANGUAGES=[*LANGUAGES, "kg"])
    deployment.standard(app)
    caller = Caller(app.test_client(), phone="+243970009999")
    assert "Kikongo" not in caller.dial()  # seven names in Arabic script fill the first screen
    assert "8 Kikongo" in caller.press("98")
    menu = caller.press("8")
    assert menu.startswith("CON Nki nge zola kusala?")
    assert "Report a child in danger" in menu  # not translated yet: the English source
    caller.press("1")
    assert caller.screen.startswith("CON Your report goes to")
