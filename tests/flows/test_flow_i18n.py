"""Catalogs compiled in memory, the Babel extractor, and complete French."""

import io
import re

from babel.messages.pofile import read_po
from flowkit import LOCALES

from flows import Catalogs, autonym
from flows.babel import extract_flows
from flows.loader import DEFINITIONS_DIR


def test_extractor_yields_yaml_msgids():
    with (DEFINITIONS_DIR / "alert.yaml").open("rb") as fh:
        found = list(extract_flows(fh, [], ["TRANSLATORS:"], {}))
    messages = {message for _, _, message, _ in found}
    assert "Killed or injured" in messages
    assert "How many girls?" in messages
    assert any("%(reference)s" in m for m in messages)
    assert "recruitment" not in messages and "category" not in messages
    lineno, funcname, message, comments = next(f for f in found if f[2] == "Aid blocked")
    assert funcname is None and lineno > 1
    assert comments[0].startswith("TRANSLATORS: category > option")


def test_extractor_without_comment_tags_gives_no_comments():
    fh = io.BytesIO(b"start: a\nsteps:\n  a: {type: end, text: Bye}\n")
    assert list(extract_flows(fh, [], [], {})) == [(3, None, "Bye", [])]


def test_french_is_complete_with_same_placeholders():
    with (LOCALES / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    with (LOCALES / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    ids = {m.id for m in template if m.id}
    assert ids == {m.id for m in catalog if m.id}
    for message in catalog:
        if not message.id:
            continue
        assert message.string, message.id  # a draft (fuzzy) counts: it is served
        placeholders = re.compile(r"%\((\w+)\)s")
        assert placeholders.findall(message.id) == placeholders.findall(message.string)


def test_gettext_translates_and_fills(tmp_path):
    catalogs = Catalogs(LOCALES, ["en", "fr"])
    assert catalogs.gettext("fr", "Back") == "Retour"
    assert catalogs.gettext("en", "Back") == "Back"
    assert "1234567" in catalogs.gettext(
        "fr", "Thank you. Your report number is %(reference)s. "
        "Keep it somewhere safe to ask about your report later.", reference="1234567"
    )


def test_language_without_catalog_or_cldr_data_falls_back(tmp_path):
    po = tmp_path / "kg" / "LC_MESSAGES"
    po.mkdir(parents=True)
    (po / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: kg\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Back"\nmsgstr "Vutuka"\n\nmsgid "Send"\nmsgstr ""\n',
        encoding="utf-8",
    )
    catalogs = Catalogs(tmp_path, ["kg", "din"])
    assert catalogs.gettext("kg", "Back") == "Vutuka"
    assert catalogs.gettext("kg", "Send") == "Send"  # missing: the English source
    assert catalogs.gettext("din", "Back") == "Back"  # no catalog at all
    assert catalogs.translations("din").ngettext("child", "children", 2) == "children"
    assert autonym("din") == "Thuɔŋjäŋ" and autonym("zz") == "zz"


def test_bad_placeholder_in_translation_falls_back_to_source(tmp_path):
    po = tmp_path / "fr" / "LC_MESSAGES"
    po.mkdir(parents=True)
    (po / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Number %(reference)s"\nmsgstr "Numéro %(ref)s"\n',
        encoding="utf-8",
    )
    assert Catalogs(tmp_path, ["fr"]).gettext("fr", "Number %(reference)s", reference="7") == (
        "Number 7"
    )


def test_a_value_not_given_reads_as_nothing_and_a_garbled_translation_as_the_source(tmp_path):
    po = tmp_path / "kg" / "LC_MESSAGES"
    po.mkdir(parents=True)
    (po / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: kg\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Number %(reference)s.%(service)s"\nmsgstr "Nimero %(reference)s.%(service)s"\n\n'
        'msgid "Your number is %(reference)s."\nmsgstr "Nimero %(numero)s."\n',
        encoding="utf-8",
    )
    catalogs = Catalogs(tmp_path, ["kg"])
    # A last screen whose caller gave no service still says the reference: never an error.
    assert catalogs.gettext("kg", "Number %(reference)s.%(service)s", reference="12345678") == (
        "Nimero 12345678."
    )
    assert catalogs.gettext("kg", "Number %(reference)s.%(service)s") == "Nimero ."
    # A translation naming a placeholder the source lacks: the source, reference included.
    assert catalogs.gettext("kg", "Your number is %(reference)s.", reference="12345678") == (
        "Your number is 12345678."
    )
