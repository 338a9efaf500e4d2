"""The flows, their translations and the place directory, wired into the app."""

from __future__ import annotations

from flask import Flask, current_app

from flows import Catalogs, Engine, load_flows
from gateway.places import DatabasePlaces
from gateway.sessions import UssdSessions


def init_app(app: Flask) -> None:
    """Load the flows and catalogs once, and build the engine and session store."""
    languages = list(app.config["LANGUAGES"])
    default = app.config["DEFAULT_LANGUAGE"]
    if default not in languages:
        languages.insert(0, default)
    catalogs = Catalogs(app.config["LOCALES_DIR"], languages)
    app.extensions["catalogs"] = catalogs
    app.extensions["flow_engine"] = Engine(
        load_flows(), catalogs, DatabasePlaces(app), languages, default
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
