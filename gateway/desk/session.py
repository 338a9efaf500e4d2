"""Who is logged in on the desk, and the rules every desk page keeps.

The session cookie (Flask's, signed with the server secret) holds the user's id, the user's
session epoch and when they were last seen; nothing about a case. It is HttpOnly, SameSite=Lax,
and Secure except on the embedded default (GATEWAY_DESK_SECURE_COOKIES). A session unused for
GATEWAY_DESK_IDLE_MINUTES, of a disabled user, or older than their last logout or password
change (the epoch) is over. Every POST to a desk page carries the CSRF token (`csrf_token`,
Flask-WTF): without it, or with a wrong one, the answer is 400 and nothing is done. Desk pages
are never cached and never framed, and load nothing from another origin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms import ValidationError

from gateway.desk.i18n import choose_language
from gateway.storage.db import session_scope
from gateway.storage.models import DeskRole, User

F = TypeVar("F", bound=Callable[..., Any])

BLUEPRINT_PREFIX = "desk"
FORM_BODY_LIMIT = 64 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def is_desk_request() -> bool:
    """Tell whether the current request is for a desk page."""
    return bool(request.blueprint and request.blueprint.startswith(BLUEPRINT_PREFIX))


def init_app(app: Flask) -> None:
    """Set the cookie rules, check CSRF on desk POSTs, load the user, add the page headers."""
    secure = bool(app.config.get("DESK_SECURE_COOKIES", True))
    app.config.update(
        SESSION_COOKIE_NAME="__Host-desk" if secure else "desk",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_FIELD_NAME="csrf_token",
    )
    app.before_request(_before)
    app.after_request(_after)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["current_user"] = current_user


def _before() -> None:
    if not is_desk_request() or request.endpoint == "desk.static":
        return
    if request.method == "POST":
        if not (request.blueprint or "").startswith("desk_admin"):
            # Desk forms are a few fields: a larger body is refused before it is read (the
            # administration's CSV uploads set their own, larger limit first).
            request.max_content_length = FORM_BODY_LIMIT
            if (request.content_length or 0) > FORM_BODY_LIMIT:
                abort(413)
        try:
            validate_csrf(request.form.get("csrf_token"))
        except RequestEntityTooLarge:
            raise
        except (CSRFError, ValidationError):  # missing, expired or not this session's
            abort(400)
    user = current_user()
    g.desk_lang = choose_language(user.language if user is not None else None)


def _after(response: Response) -> Response:
    if request.endpoint == "desk.static":
        response.headers["Cache-Control"] = "public, max-age=86400"  # slow links: load once
    elif is_desk_request():
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _load(user_id: int) -> User | None:
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is not None:
            db.expunge(user)
        return user


def current_user() -> User | None:
    """Return the logged-in user of this request, None when nobody (or the session is over)."""
    if "desk_user" in g:
        return cast(User | None, g.desk_user)
    user = None
    user_id = session.get("uid")
    if isinstance(user_id, int):
        idle = current_app.config.get("DESK_IDLE_MINUTES", 30) * 60
        seen = session.get("seen", 0)
        candidate = _load(user_id)
        if (candidate is not None and candidate.active
                and session.get("epoch") == candidate.session_epoch
                and time.time() - float(seen) <= idle):
            user = candidate
            session["seen"] = int(time.time())
        else:
            session.clear()
    g.desk_user = user
    return user


def start_session(user: User) -> None:
    """Log the user in: a new session (the old one, and its CSRF token, are dropped)."""
    session.clear()
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["seen"] = int(time.time())
    g.desk_user = user


def end_session() -> None:
    """Log out of this browser (the caller raises the epoch to end every other session)."""
    session.clear()
    g.desk_user = None


def login_required(*roles: DeskRole) -> Callable[[F], F]:
    """Let a view run for a logged-in user (of one of `roles` when given); else log in / 404.

    A user who must still change their one-time password (or set up a required second factor)
    is sent there first. A role that may not open the page gets 404, as for a missing page.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("desk_auth.login", next=request.full_path))
            if user.must_change_password and request.endpoint != "desk_auth.password":
                return redirect(url_for("desk_auth.password"))
            if roles and DeskRole(user.role) not in roles:
                abort(404)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def db_user(db: Session) -> User:
    """Return the logged-in user attached to this database session (to record who acted)."""
    user = current_user()
    assert user is not None, "login_required runs first"
    attached = db.get(User, user.id)
    assert attached is not None
    return attached
