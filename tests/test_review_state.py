"""Review state: drafts (fuzzy) are counted and shown, served to callers, never hidden."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from flows import Catalogs
from flows.catalog_check import review_states, review_table
from flows.check import check_flows
from flows.gsm import is_gsm7, ussd_length
from flows.i18n import load_languages
from gateway.commands.i18n import i18n_group
from tests import deployment
from tests.caller import Caller

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
LANGUAGES = list(load_languages(LOCALES))
TABLE = re.compile(r"<!-- languages: start -->\n(.*?)<!-- languages: end -->", re.S)
HEADER = (
    'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
)


def _catalog(root: Path, lang: str, body: str, header_fuzzy: bool = False) -> None:
    folder = root / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    head = ("#, fuzzy\n" if header_fuzzy else "") + HEADER.format(lang=lang)
    (folder / "messages.po").write_text(head + body, encoding="utf-8")


def test_i18n_check_prints_reviewed_and_draft_counts_per_language() -> None:
    result = CliRunner().invoke(i18n_group, ["check", "--root", str(ROOT)])
    for state in review_states(LOCALES):
        line = f"{state.code} ({state.name}): {state.reviewed} reviewed, {state.drafts} draft(s)"
        assert line in result.output, result.output
    assert "pga (Arabi Juba): 0 reviewed" in result.output


def test_drafts_are_no_failure_but_an_empty_translation_is(tmp_path: Path) -> None:
    (tmp_path / "messages.pot").write_text(
        HEADER.format(lang="") + 'msgid "Back"\nmsgstr ""\n\nmsgid "Send"\nmsgstr ""\n',
        encoding="utf-8",
    )
    (tmp_path / "languages.toml").write_text('fr = { name = "Français" }\n', encoding="utf-8")
    _catalog(tmp_path, "fr", '#, fuzzy\nmsgid "Back"\nmsgstr "Retour"\n\nmsgid "Send"\nmsgstr ""\n')
    [state] = review_states(tmp_path)
    assert (state.reviewed, state.drafts, state.missing) == (0, 1, 1)
    _catalog(
        tmp_path, "fr",
        '#, fuzzy\nmsgid "Back"\nmsgstr "Retour"\n\nmsgid "Send"\nmsgstr "Envoyer"\n',
    )
    [state] = review_states(tmp_path)
    assert (state.reviewed, state.drafts, state.missing) == (1, 1, 0)


def test_a_fuzzy_entry_is_served_and_a_fuzzy_header_sets_nothing_aside(tmp_path: Path) -> None:
    _catalog(tmp_path, "fr", '#, fuzzy\nmsgid "Back"\nmsgstr "Retour"\n', header_fuzzy=True)
    _catalog(tmp_path, "pga", '#, fuzzy\nmsgid "Back"\nmsgstr "Raja"\n', header_fuzzy=True)
    catalogs = Catalogs(tmp_path, ["fr", "pga"])
    assert catalogs.gettext("fr", "Back") == "Retour"
    assert catalogs.gettext("pga", "Back") == "Raja"
    assert catalogs.gettext("pga", "Send") == "Send"  # missing: the English source, never empty


def test_a_caller_reads_the_drafts_of_their_language(make_app: Callable[..., Flask]) -> None:
    """Every Sango entry is a draft (fuzzy): a caller who chose Sango reads Sango, not English."""
    app = make_app(LANGUAGES=LANGUAGES)
    deployment.standard(app)
    catalogs = app.extensions["catalogs"]
    caller = Caller(app.test_client(), phone="+23670005555")
    caller.dial()
    menu = caller.choose("Sango")
    assert menu.startswith("CON " + catalogs.gettext("sg", "What would you like to do?"))
    assert "Mo ye ti sara nyen?" in menu and "What would you like" not in menu


def test_readme_language_table_matches_the_catalogs() -> None:
    found = TABLE.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md lost its language table markers"
    assert found.group(1) == review_table(review_states(LOCALES)), (
        "README.md's language table is stale: paste the output of `gateway i18n status`"
    )


def test_juba_arabic_is_offered_and_walked_in_gsm7_latin_screens(
    make_app: Callable[..., Flask],
) -> None:
    assert "pga" in LANGUAGES and load_languages(LOCALES)["pga"].name == "Arabi Juba"
    app = make_app(LANGUAGES=LANGUAGES)
    deployment.standard(app)
    caller = Caller(app.test_client(), phone="+21191000777")
    assert f"{LANGUAGES.index('pga') + 1} Arabi Juba" in caller.dial()
    caller.choose("Arabi Juba")
    for key in ["1", "1", "1"]:  # the alert; who receives it; the first category
        caller.press(key)
    for screen in caller.screens[1:]:
        assert is_gsm7(screen) and ussd_length(screen) <= 182, screen
    assert caller.screens[1].startswith("CON Ita dayir amulu shunu?")


@pytest.mark.parametrize("lang", ["pga"])
def test_flows_check_measures_every_screen_of_juba_arabic(lang: str, tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    problems = check_flows(None, locales, [lang])
    assert not [p for p in problems if p.kind in ("screen-too-long", "placeholder-mismatch")]
