"""Every offered language translates every message of the template, placeholders intact."""

import re

import pytest
from babel.messages.pofile import read_po
from flowkit import LOCALES

from flows.i18n import load_languages

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Letters with no GSM-7 form: one of them puts a whole screen into the 80-character limit.
OPEN_VOWELS = set("ɛɔƐƆ")
EVERYDAY_SPELLING = {"ln", "sg"}


def _template_ids() -> set[str]:
    with (LOCALES / "messages.pot").open("rb") as fh:
        return {message.id for message in read_po(fh) if message.id}


def _catalog(lang: str):
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    assert path.is_file(), f"no catalog for {lang}: pybabel init ... -l {lang}"
    with path.open("rb") as fh:
        return {message.id: message for message in read_po(fh) if message.id}


TRANSLATED = [code for code in load_languages(LOCALES) if code != "en"]


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders(lang):
    catalog = _catalog(lang)
    missing = sorted(_template_ids() - set(catalog))
    assert not missing, f"{lang}: run pybabel update (see locales/README.md): {missing}"
    for msgid, message in catalog.items():
        assert message.string, f"{lang}: not translated: {msgid!r}"
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(
            PLACEHOLDER.findall(msgid)
        ), f"{lang}: placeholders differ in {message.string!r}"


@pytest.mark.parametrize("lang", sorted(EVERYDAY_SPELLING & set(TRANSLATED)))
def test_everyday_spelling_keeps_screens_in_gsm7(lang):
    for message in _catalog(lang).values():
        assert not OPEN_VOWELS & set(message.string), f"{lang}: write e/o in {message.string!r}"


def test_english_catalog_has_every_message():
    assert _template_ids() <= set(_catalog("en"))
