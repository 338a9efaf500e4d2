"""The desk: server-rendered pages where focal points and coordinators work their cases.

`session` (who is logged in, CSRF, page headers), `auth` (login, second factor, passwords),
`accounts` (users: create, list, disable; also `gateway users`), `scope` (the one place that
limits what a user sees), `cases` (the list, a case page and the actions on it), `admin` (the
roster, places, services, outbox, failed jobs, audit), `audit`, `i18n` (French and English).
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for
from werkzeug.wrappers import Response

from gateway.desk import admin, auth, cases, i18n, session, trends
from gateway.storage.models import DeskRole

bp = Blueprint("desk", __name__, template_folder="templates", static_folder="static",
               static_url_path="/desk/static")


@bp.get("/")
def home() -> Response:
    """Send a user to their work: the cases, or the administration for an admin."""
    user = session.current_user()
    if user is not None and user.role == DeskRole.ADMIN:
        return redirect(url_for("desk_admin.index"))
    return redirect(url_for("desk_cases.index"))


def init_app(app: Flask) -> None:
    """Register the desk's pages."""
    i18n.init_app(app)
    session.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(trends.bp)
