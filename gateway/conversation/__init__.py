"""The flows engine and the translation catalogs, loaded once per app, and keyword words."""

from __future__ import annotations

from flask import Flask, current_app

from flows import Catalogs, Engine, load_flows
from flows.i18n import load_languages
from gateway.directory.places import DatabasePlaces


def init_app(app: Flask) -> None:
    """Load the flows and catalogs once, and build the engine."""
    languages = list(app.config["LANGUAGES"])
    default = app.config["DEFAULT_LANGUAGE"]
    if default not in languages:
        default = languages[0]
    configured = load_languages(app.config["LOCALES_DIR"])
    plurals = {code: lang.plural for code, lang in configured.items() if lang.plural}
    catalogs = Catalogs(app.config["LOCALES_DIR"], languages, plurals)
    app.extensions["catalogs"] = catalogs
    app.extensions["flow_engine"] = Engine(
        load_flows(),
        catalogs,
        DatabasePlaces(app),
        languages,
        default,
        gsm_fold_languages=[code for code, lang in configured.items() if lang.gsm7_fold],
        names={code: lang.name for code, lang in configured.items()},
    )


def get_engine(app: Flask | None = None) -> Engine:
    """Return the app's flow engine (the current app's inside a request or job)."""
    return (app or current_app).extensions["flow_engine"]


def get_catalogs(app: Flask | None = None) -> Catalogs:
    """Return the app's translation catalogs (the current app's inside a request or job)."""
    return (app or current_app).extensions["catalogs"]


def keyword_words(catalogs: Catalogs, lang: str, msgid: str) -> list[str]:
    """Return the words a keyword's translation accepts ("ALERTE, ALARME"), in their order."""
    translated = catalogs.gettext(lang, msgid).replace("|", ",")
    return [word.strip() for word in translated.split(",") if word.strip()]


def first_word(catalogs: Catalogs, lang: str, msgid: str) -> str:
    """Return the first word a keyword's translation accepts: the one to show people."""
    words = keyword_words(catalogs, lang, msgid)
    return words[0] if words else msgid
