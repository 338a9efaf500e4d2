"""The desk's words in French and English: one catalog, `locales/<lang>/LC_MESSAGES/desk.po`.

The desk is read by staff, not by callers, so it has its own catalog (domain `desk`), compiled in
memory at start like the callers' catalogs. A page is in the user's chosen language, else the
browser's first desk language, else the gateway's default language when the desk has it, else
English. In templates `_("...")` and `ngettext` are Jinja's i18n functions; in Python `_()` reads
the current request's language. A French word not checked by a native speaker is `#, fuzzy`: a
draft, served, and counted by `gateway i18n check`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from markupsafe import Markup

DOMAIN = "desk"
DESK_LANGUAGES = ("en", "fr")


def _compile(path: Path, lang: str) -> NullTranslations:
    """Compile a .po file in memory (fuzzy drafts included); a missing file: the msgids."""
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=True)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def init_app(app: Flask) -> None:
    """Load the desk's catalogs and give Jinja the i18n functions."""
    root = Path(app.config["LOCALES_DIR"])
    app.extensions["desk_translations"] = {
        lang: _compile(root / lang / "LC_MESSAGES" / f"{DOMAIN}.po", lang)
        for lang in DESK_LANGUAGES
    }
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=True
    )


def choose_language(preferred: str | None = None) -> str:
    """Return the desk language of this request: the user's, the browser's, the default's."""
    if preferred in DESK_LANGUAGES:
        return str(preferred)
    if has_request_context():
        best = request.accept_languages.best_match(DESK_LANGUAGES)
        if best:
            return best
    default = current_app.config.get("DEFAULT_LANGUAGE", "en")
    return default if default in DESK_LANGUAGES else "en"


def current_language() -> str:
    """Return the language the current page is written in."""
    if has_request_context():
        lang = g.get("desk_lang")
        if lang is None:
            lang = g.desk_lang = choose_language()
        return str(lang)
    return "en"


def _translations() -> NullTranslations:
    return current_app.extensions["desk_translations"][current_language()]


def gettext(message: str, **params: Any) -> str:
    """Return message in the page's language, with %(name)s placeholders filled."""
    text = _translations().gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, num: int, **params: Any) -> str:
    """Return the singular or plural form for num, in the page's language."""
    text = _translations().ngettext(singular, plural, num)
    return text % {"num": num, **params}


_ = gettext


def markup(message: str, **params: Any) -> Markup:
    """Return a translated message with escaped parameters, safe to put in a page."""
    return Markup(_translations().gettext(message)) % params if params else Markup(
        _translations().gettext(message))
