"""Gettext catalogs compiled in memory from the .po files, and language names."""

from __future__ import annotations

import gettext
import logging
import re
import tomllib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

log = logging.getLogger(__name__)
# A named placeholder, %(name)s: filled by gettext, read as nothing when not given.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

# Each language's name in itself: a caller must recognise their language before choosing it.
AUTONYMS = {
    "en": "English",
    "fr": "Français",
    "sg": "Sango",
    "ln": "Lingála",
    "sw": "Kiswahili",
    "ar": "العربية",
    "pga": "Arabi Juba",
    "kg": "Kikongo",
    "lua": "Tshiluba",
    "din": "Thuɔŋjäŋ",
}


DEFAULT_PLURAL = "nplurals=2; plural=(n != 1);"


@dataclass(frozen=True)
class Language:
    """One offered language, as configured in locales/languages.toml."""

    code: str
    name: str
    gsm7_fold: bool = False
    plural: str | None = None


def autonym(lang: str) -> str:
    """Return the language's name in itself, or its code when we do not know it."""
    return AUTONYMS.get(lang, lang)


def load_languages(locales_dir: str | Path) -> dict[str, Language]:
    """Read locales/languages.toml: the offered languages, in the order of the first screen."""
    path = Path(locales_dir) / "languages.toml"
    if not path.is_file():
        # A bare folder of catalogs: offer each language that has one, named as we know it.
        found = sorted(p.parent.parent.name for p in Path(locales_dir).glob("*/LC_MESSAGES/*.po"))
        return {code: Language(code=code, name=autonym(code)) for code in found}
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    languages: dict[str, Language] = {}
    for code, spec in raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError(f"{path}: {code} needs a name, as in {code} = {{ name = \"...\" }}")
        unknown = set(spec) - {"name", "gsm7_fold", "plural"}
        if unknown:
            raise ValueError(f"{path}: {code} has unknown keys {sorted(unknown)}")
        languages[code] = Language(
            code=code,
            name=spec["name"],
            gsm7_fold=bool(spec.get("gsm7_fold", False)),
            plural=spec.get("plural"),
        )
    return languages


def N_(msgid: str) -> str:
    """Mark msgid for extraction without translating it here."""
    return msgid


class _Lenient(dict[str, object]):
    """Placeholders a caller of gettext did not give read as nothing: never a dead line."""

    def __missing__(self, key: str) -> object:
        log.warning("no value for %%(%s)s: shown empty", key)
        return ""


class Catalogs:
    """Gettext catalogs loaded from locales/<lang>/LC_MESSAGES/messages.po."""

    def __init__(
        self,
        locales_dir: str | Path,
        languages: list[str],
        plurals: dict[str, str] | None = None,
    ) -> None:
        self._translations: dict[str, gettext.NullTranslations] = {}
        root = Path(locales_dir)
        plurals = plurals or {}
        for lang in languages:
            path = root / lang / "LC_MESSAGES" / "messages.po"
            self._translations[lang] = _load(path, lang, plurals.get(lang))

    def translations(self, lang: str) -> gettext.NullTranslations:
        """Return the translations of lang (msgids themselves when there is no catalog)."""
        return self._translations.get(lang) or gettext.NullTranslations()

    def gettext(self, lang: str, msgid: str, **params: object) -> str:
        """Translate msgid into lang and fill its named %(x)s placeholders."""
        text = self.translations(lang).gettext(msgid)
        if not params and not _PLACEHOLDER.search(text):
            return text  # a literal "%" in a text without placeholders stays as it is
        try:
            return text % params
        except (KeyError, ValueError, TypeError):
            pass
        try:
            source = msgid % params
        except KeyError:
            # The caller did not give a value the message names: it reads as nothing, rather
            # than end the call or the job on an error.
            for candidate in (text, msgid):
                try:
                    return candidate % _Lenient(params)
                except (ValueError, TypeError):
                    continue
            return msgid
        except (ValueError, TypeError):
            return msgid
        # A translation whose placeholders differ from the msgid's: show the source instead.
        log.warning("bad placeholders in the %s translation of %r", lang, msgid)
        return source

    def ngettext(
        self, lang: str, singular: str, plural: str, n: int, **params: object
    ) -> str:
        """Translate by the plural rule of lang (English's where CLDR has none) and fill in."""
        text = self.translations(lang).ngettext(singular, plural, n)
        values = {"n": n, **params}
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            log.warning("bad placeholders in the %s translation of %r", lang, singular)
            return (singular if n == 1 else plural) % values


def _load(path: Path, lang: str, plural: str | None = None) -> gettext.NullTranslations:
    """Compile one .po file in memory; a missing file gives the msgids themselves.

    Drafts (entries marked fuzzy: not yet checked by a native speaker) are served: a caller
    reads a draft in their language rather than English they may not read. A fuzzy header does
    not set the catalog aside either. The plural rule is the configured one, else the catalog's
    header, else CLDR's, else English's.
    """
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
    if plural:
        catalog.mime_headers = [("Plural-Forms", plural)]
    buffer = BytesIO()
    catalog.fuzzy = False  # a header left fuzzy by pybabel init says nothing of the messages
    write_mo(buffer, catalog, use_fuzzy=True)
    buffer.seek(0)
    return Translations(fp=buffer)
