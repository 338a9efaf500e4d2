"""`gateway i18n check/update/compile`: a stale template and missing translations fail CI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.catalog_check import (
    catalog_path,
    check_catalogs,
    check_template,
    compile_catalogs,
    read_catalog,
)
from gateway.commands.i18n import i18n_group

GOOD = Path(__file__).resolve().parent / "fixtures" / "good"
NEW = "Help is on the way."


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the good fixture checkout (babel.cfg, texts, flows, locales)."""
    target = tmp_path / "checkout"
    shutil.copytree(GOOD, target)
    return target


def set_translation(root: Path, lang: str, msgid: str, text: str, fuzzy: bool = False) -> None:
    """Edit one entry of a fixture catalog as a translator would."""
    path = catalog_path(root / "locales", lang)
    body = path.read_text(encoding="utf-8")
    entry = f'msgid "{msgid}"\nmsgstr "'
    start = body.index(entry)
    end = body.index('"\n', start + len(entry))
    body = body[:start] + entry + text + body[end:]
    if fuzzy:
        body = body.replace(entry, "#, fuzzy\n" + entry)
    path.write_text(body, encoding="utf-8")


def run(*args: str):
    return CliRunner().invoke(i18n_group, list(args))


def test_good_checkout_passes(root):
    assert check_template(root) == []
    assert check_catalogs(root / "locales") == []
    result = run("check", "--root", str(root))
    assert result.exit_code == 0, result.output


def test_stale_template_is_detected_both_ways(root):
    (root / "texts" / "more.py").write_text(f'from flows.i18n import N_\n\nHELP = N_("{NEW}")\n')
    tell = root / "definitions" / "tell.yaml"
    tell.write_text(tell.read_text().replace("Nothing was sent.", "Your report was not sent."))
    lines = [p.message for p in check_template(root)]
    assert any(f"'{NEW}' is in the code, not in the template" in line for line in lines)
    assert any("'Your report was not sent.' is in the code" in line for line in lines)
    assert any("'Nothing was sent.' is in the template, no longer" in line for line in lines)
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "locales/messages.pot: template is stale" in result.output


def test_update_refreshes_the_template_and_then_missing_translations_show(root):
    (root / "texts" / "more.py").write_text(f'from flows.i18n import N_\n\nHELP = N_("{NEW}")\n')
    result = run("update", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert check_template(root) == []
    french = read_catalog(catalog_path(root / "locales", "fr"), "fr")
    assert french.get(NEW) is not None and french.get(NEW).string == ""
    problems = check_catalogs(root / "locales")
    assert {(p.language, p.kind) for p in problems} == {
        ("fr", "missing-translation"), ("ar", "missing-translation")
    }
    assert all(NEW in p.message for p in problems)


def test_missing_and_garbled_translations_are_detected_drafts_are_not_problems(root):
    set_translation(root, "fr", "Tell us", "")
    # A draft (fuzzy) is served and counted as a draft, never as missing; its placeholders are
    # still checked.
    set_translation(root, "ar", "Send it now?", "هل ترسله؟", fuzzy=True)
    set_translation(root, "fr", "Thank you. Your number is %(reference)s.", "Merci. %(numero)s.")
    found = {(p.language, p.kind, p.message) for p in check_catalogs(root / "locales")}
    assert ("fr", "missing-translation", "missing translation: 'Tell us'") in found
    assert not any(lang == "ar" for lang, _kind, _message in found)
    assert any(
        lang == "fr" and kind == "placeholder-mismatch" and "%(numero)s" in message
        for lang, kind, message in found
    )
    assert len(found) == 2


def test_english_may_be_empty_but_must_hold_every_message(root):
    english = catalog_path(root / "locales", "en")
    body = english.read_text(encoding="utf-8")
    english.write_text(body.replace('msgid "Tell us"\nmsgstr ""\n', ""), encoding="utf-8")
    problems = check_catalogs(root / "locales")
    assert [(p.language, p.message) for p in problems] == [("en", "not in the catalog: 'Tell us'")]


def test_a_configured_language_without_catalog_is_reported(root):
    with (root / "locales" / "languages.toml").open("a") as fh:
        fh.write('sw = { name = "Kiswahili" }\n')
    problems = check_catalogs(root / "locales")
    assert [(p.language, p.kind) for p in problems] == [("sw", "missing-translation")]
    result = run("check", "--root", str(root), "--languages", "en,fr")
    assert result.exit_code == 0, result.output


def test_compile_writes_mo_files(root):
    compile_catalogs(root)
    assert (root / "locales" / "fr" / "LC_MESSAGES" / "messages.mo").is_file()
    assert run("compile", "--root", str(root)).exit_code == 0


def test_the_desk_words_are_a_domain_of_their_own_checked_like_the_callers(root):
    desk = root / "desk" / "pages.py"
    desk.write_text(desk.read_text() + f'\nMORE = _("{NEW}")\n')
    # Not in the callers' template: the desk's words never reach a caller's catalog.
    assert check_template(root) == []
    stale = run("check", "--root", str(root))
    assert stale.exit_code == 1
    assert "desk.pot" in stale.output and "is in the code, not in the template" in stale.output
    assert run("update", "--root", str(root)).exit_code == 0
    missing = run("check", "--root", str(root))
    assert missing.exit_code == 1
    assert "fr/LC_MESSAGES/desk.po [fr]: missing translation" in missing.output
    assert NEW in missing.output
    french = catalog_path(root / "locales", "fr").parent / "desk.po"
    body = french.read_text(encoding="utf-8").replace(
        f'msgid "{NEW}"\nmsgstr ""', f'#, fuzzy\nmsgid "{NEW}"\nmsgstr "Les secours arrivent."')
    french.write_text(body, encoding="utf-8")
    drafted = run("check", "--root", str(root))
    assert drafted.exit_code == 0, drafted.output
    assert "desk: fr (Français): 1 reviewed, 1 draft(s)" in drafted.output
