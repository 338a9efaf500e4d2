"""USSD: one hop at a time, sessions in Redis, session-end notices and resuming a cut report."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.channels.ussd.sessions import UssdSessions


def init_app(app: Flask) -> None:
    """Build the app's USSD session store on its Redis connection."""
    app.extensions["ussd_sessions"] = UssdSessions(
        app.extensions["redis"], app.config["USSD_SESSION_TTL"], app
    )


def get_sessions(app: Flask | None = None) -> UssdSessions:
    """Return the app's USSD session store (the current app's inside a request)."""
    return (app or current_app).extensions["ussd_sessions"]
