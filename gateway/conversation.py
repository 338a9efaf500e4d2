"""The flows, their translations and the place directory, wired into the app."""

from __future__ import annotations

from flask import Flask, current_app

from flows import Catalogs, Engine, load_flows
from flows.i18n import load_languages
from gateway.places import DatabasePlaces
from gateway.sessions import UssdSessions


def init_app(app: Flask) -> None:
    """Load the flows and catalogs once, and build the engine and session store."""
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
    app.extensions["ussd_sessions"] = UssdSessions(
        app.extensions["redis"], app.config["USSD_SESSION_TTL"]
    )


def get_engine(app: Flask | None = None) -> Engine:
    """Return the app's flow engine."""
    return (app or current_app).extensions["flow_engine"]


def get_catalogs(app: Flask | None = None) -> Catalogs:
    """Return the app's translation catalogs."""
    return (app or current_app).extensions["catalogs"]


def get_sessions(app: Flask | None = None) -> UssdSessions:
    """Return the app's USSD session store."""
    return (app or current_app).extensions["ussd_sessions"]
