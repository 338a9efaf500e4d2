"""Gettext catalogs compiled in memory from the .po files, and language names."""

from __future__ import annotations

import gettext
import logging
from io import BytesIO
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

log = logging.getLogger(__name__)

# Each language's name in itself: a caller must recognise their language before choosing it.
AUTONYMS = {
    "en": "English",
    "fr": "Français",
    "sg": "Sango",
    "ln": "Lingála",
    "sw": "Kiswahili",
    "ar": "العربية",
    "kg": "Kikongo",
    "lua": "Tshiluba",
    "din": "Thuɔŋjäŋ",
}


def autonym(lang: str) -> str:
    """Return the language's name in itself, or its code when we do not know it."""
    return AUTONYMS.get(lang, lang)


def N_(msgid: str) -> str:
    """Mark msgid for extraction without translating it here."""
    return msgid


class Catalogs:
    """Gettext catalogs loaded from locales/<lang>/LC_MESSAGES/messages.po."""

    def __init__(self, locales_dir: str | Path, languages: list[str]) -> None:
        self._translations: dict[str, gettext.NullTranslations] = {}
        root = Path(locales_dir)
        for lang in languages:
            self._translations[lang] = _load(root / lang / "LC_MESSAGES" / "messages.po", lang)

    def translations(self, lang: str) -> gettext.NullTranslations:
        """Return the translations of lang (msgids themselves when there is no catalog)."""
        return self._translations.get(lang) or gettext.NullTranslations()

    def gettext(self, lang: str, msgid: str, **params: object) -> str:
        """Translate msgid into lang and fill its named %(x)s placeholders."""
        text = self.translations(lang).gettext(msgid)
        if not params:
            return text
        try:
            return text % params
        except (KeyError, ValueError, TypeError):
            # A translation whose placeholders differ from the msgid's: show the source instead.
            log.warning("bad placeholders in the %s translation of %r", lang, msgid)
            return msgid % params


def _load(path: Path, lang: str) -> gettext.NullTranslations:
    """Compile one .po file in memory; a missing file gives the msgids themselves."""
    if not path.is_file():
        log.info("no catalog for %s at %s: using the source messages", lang, path)
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        try:
            catalog = read_po(fh, locale=lang)
        except (UnknownLocaleError, ValueError):
            # A language CLDR does not know (kg, din, lua): read it without locale data.
            fh.seek(0)
            catalog = read_po(fh)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer)
