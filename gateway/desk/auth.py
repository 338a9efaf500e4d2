"""Logging in and out of the desk: password, second factor (TOTP), change of password.

A login that needs a second factor is not a session yet: the cookie holds only a pending user
id (with the user's epoch and when the password was given) until the code is right, or until a
role that requires the second factor has it set up on `/account/totp`. Every refusal of a
password reads alike (wrong address, wrong password, disabled user); only a lock says so, with
its end. Wrong codes count toward the same lock as wrong passwords, and a code works once: the
time-step it belongs to is remembered in Redis (a key of ids only) for as long as it is valid.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from gateway.desk import accounts
from gateway.desk import session as desk_session
from gateway.desk.audit import record
from gateway.desk.i18n import _
from gateway.storage.crypto import DecryptError, decrypt, encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import DeskRole, User
from gateway.storage.redis import get_redis

bp = Blueprint("desk_auth", __name__)

PENDING_SECONDS = 5 * 60  # from the password to the code
SETUP_SECONDS = 20 * 60  # from the password to a second factor set up (an app to install)
# A code is valid for its step and either neighbour: remember a used step a little longer.
USED_CODE_SECONDS = 120


# -- Where to go --------------------------------------------------------------------------------

def safe_next(value: str | None) -> str | None:
    """Return `next` when it is a path of this site ("/..." but not "//host"), else None."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        return None  # browsers read "/\\host" as another site
    return value


def _home(user: User) -> str:
    if user.role == DeskRole.ADMIN:
        return url_for("desk_admin.index")
    return url_for("desk_cases.index")


def _after_login(user: User, target: str | None) -> str:
    if user.must_change_password:
        return url_for(".password")
    return target or _home(user)


def _lock_message(until: datetime) -> str:
    # Rounded up to the minute: "after 10:07" must not be refused at 10:07:20.
    shown = until.replace(second=0, microsecond=0)
    if shown < until:
        shown += timedelta(minutes=1)
    return _("Too many failed attempts: try again after %(time)s UTC.",
             time=shown.strftime("%H:%M"))


def _refusal() -> str:
    return _("The e-mail address or the password is wrong.")


# -- Pending logins: the password was right, the second factor is still to come ----------------

def _pend(user: User, target: str | None, *, setup: bool) -> None:
    cookie.clear()  # whatever the browser held before the password is dropped
    cookie["pending"] = {"uid": user.id, "epoch": user.session_epoch, "at": int(time.time()),
                         "next": target, "setup": setup}


def _pending(*, setup: bool) -> dict[str, Any] | None:
    """Return the pending login of this browser for this step, None when none or too old."""
    pending = cookie.get("pending")
    if not isinstance(pending, dict) or bool(pending.get("setup")) != setup:
        return None
    limit = SETUP_SECONDS if setup else PENDING_SECONDS
    if time.time() - float(pending.get("at", 0)) > limit:
        cookie.pop("pending", None)
        return None
    return pending


def _pending_user(db: Session, pending: dict[str, Any]) -> User | None:
    user = db.get(User, pending.get("uid"))
    if user is None or not user.active or user.session_epoch != pending.get("epoch"):
        return None
    return user


def _start_again(message: str | None = None) -> ResponseReturnValue:
    cookie.clear()
    flash(message or _("Please log in again."), "error")
    return redirect(url_for(".login"))


def _first_use(user: User, step: int) -> bool:
    """Remember that a time-step's code was used; False when it was used already."""
    key = f"desk:totp-used:{user.id}:{step}"
    return bool(get_redis().set(key, b"1", nx=True, ex=USED_CODE_SECONDS))


def _finish(user: User, target: str | None) -> ResponseReturnValue:
    desk_session.start_session(user)
    return redirect(_after_login(user, target))


# -- Pages --------------------------------------------------------------------------------------

def _login_page(target: str | None, email: str = "", error: str | None = None) -> str:
    return render_template("desk/login.html", next=target, email=email, error=error)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Ask for the e-mail address and password; on success start a session (or ask a code)."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(target)
    email = request.form.get("email", "")
    with session_scope() as db:
        result = accounts.authenticate(db, email, request.form.get("password", ""))
        user = result.user
        if user is None:
            _audit_refusal(db, result)
            db.commit()  # the failure counts, whatever the outcome
            error = (_lock_message(result.locked_until) if result.locked_until is not None
                     else _refusal())
            return _login_page(target, email=email.strip(), error=error)
        if result.needs_second_factor:
            db.commit()
            setup = not user.totp_secret
            _pend(user, target, setup=setup)
            return redirect(url_for(".totp_setup" if setup else ".totp"))
        record(db, user, "login")
        db.commit()
    return _finish(user, target)


def _audit_refusal(db: Session, result: accounts.Login) -> None:
    account = result.account
    if account is None:
        return  # an unknown address: nobody to record it against
    if result.locked_now:
        record(db, account, "locked")
    elif not account.active:
        record(db, account, "login_failed", reason="disabled")
    elif result.locked_until is not None:
        record(db, account, "login_failed", reason="locked")
    else:
        record(db, account, "login_failed")


@bp.route("/login/totp", methods=["GET", "POST"])
def totp() -> ResponseReturnValue:
    """Ask the code of the user's authenticator app; a code works once."""
    pending = _pending(setup=False)
    if pending is None:
        return _start_again()
    if request.method == "GET":
        return render_template("desk/totp.html", error=None)
    with session_scope() as db:
        user = _pending_user(db, pending)
        if user is None or not user.totp_secret:
            return _start_again()
        if accounts.is_locked(user):
            return _start_again(_lock_message(user.locked_until))  # type: ignore[arg-type]
        try:
            secret = decrypt(user.totp_secret)
        except DecryptError:
            return _start_again(_("The second factor cannot be read: ask an administrator."))
        step = accounts.totp_step(secret, request.form.get("code", ""))
        if step is None or not _first_use(user, step):
            locked = accounts.record_failure(user)
            record(db, user, "locked" if locked else "login_failed", factor="totp")
            db.commit()
            if locked is not None:
                return _start_again(_lock_message(locked))
            error = _("This code is wrong or was used already: type the next code of the app.")
            return render_template("desk/totp.html", error=error)
        accounts.logged_in(user)
        record(db, user, "login", factor="totp")
        db.commit()
    return _finish(user, pending.get("next"))


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_setup() -> ResponseReturnValue:
    """Set up the second factor: show a new secret, turn it on once the app gives a code."""
    user = desk_session.current_user()
    pending = None
    if user is None:
        pending = _pending(setup=True)
        if pending is None:
            return redirect(url_for(".login", next=url_for(".totp_setup")))
    elif user.must_change_password:
        return redirect(url_for(".password"))
    elif user.totp_secret:
        return render_template("desk/totp_setup.html", enabled=True)
    secret = _draft_secret()
    error = None
    if request.method == "POST":
        step = accounts.totp_step(secret, request.form.get("code", ""))
        if step is not None:
            return _turn_on(pending, secret, step)
        error = _("This code is wrong: check the key typed into the app, then type its "
                  "current code.")
    email = user.email if user is not None else _pending_email(pending)
    return render_template("desk/totp_setup.html", enabled=False, error=error,
                           secret=accounts.grouped(secret),
                           uri=accounts.totp_uri(secret, email),
                           required=pending is not None)


def _draft_secret() -> str:
    """Return the secret being set up in this browser, drawing one when there is none."""
    token = cookie.get("totp_draft")
    if isinstance(token, str):
        try:
            return decrypt(token)
        except DecryptError:
            pass
    secret = accounts.new_totp_secret()
    cookie["totp_draft"] = encrypt(secret)  # the cookie is signed, not secret: keep it sealed
    return secret


def _pending_email(pending: dict[str, Any] | None) -> str:
    with session_scope() as db:
        user = _pending_user(db, pending) if pending else None
        return user.email if user is not None else ""


def _turn_on(pending: dict[str, Any] | None, secret: str, step: int) -> ResponseReturnValue:
    with session_scope() as db:
        account = (_pending_user(db, pending) if pending is not None
                   else desk_session.db_user(db))
        if account is None:
            return _start_again()
        if accounts.is_locked(account):
            return _start_again(_lock_message(account.locked_until))  # type: ignore[arg-type]
        account.totp_secret = encrypt(secret)
        account.session_epoch += 1  # sessions opened without the second factor end
        _first_use(account, step)
        if pending is not None:
            accounts.logged_in(account)
            record(db, account, "login", factor="totp_setup")
        record(db, account, "totp_on")
        db.commit()
    response = _finish(account, pending.get("next") if pending else None)
    flash(_("The second factor is on: from now on, log in with a code from the app."))
    return response


@bp.route("/password", methods=["GET", "POST"])
@desk_session.login_required()
def password() -> ResponseReturnValue:
    """Change one's password (the one-time password first of all); other sessions end."""
    user = desk_session.current_user()
    assert user is not None
    if request.method == "GET":
        return _password_page(user)
    new = request.form.get("new_password", "")
    problem = _new_password_problem(user, new, request.form.get("confirm_password", ""))
    with session_scope() as db:
        account = desk_session.db_user(db)
        if not accounts.check_password(account, request.form.get("current_password", "")):
            locked = accounts.record_failure(account)
            record(db, account, "locked" if locked else "password_failed")
            db.commit()
            if locked is not None:
                desk_session.end_session()
                return _start_again(_lock_message(locked))
            return _password_page(user, _("The current password is wrong."))
        if problem is None and accounts.check_password(account, new):
            problem = _("The new password must differ from the current one.")
        if problem is not None:
            return _password_page(user, problem)
        accounts.set_password(account, new)  # raises the epoch: every other session ends
        record(db, account, "password_changed")
        db.commit()
    desk_session.start_session(account)
    flash(_("Your password is changed. Other sessions of yours have ended."))
    return redirect(_home(account))


def _new_password_problem(user: User, new: str, confirm: str) -> str | None:
    if new != confirm:
        return _("The two new passwords differ.")
    if len(new) < accounts.MIN_PASSWORD_LENGTH:
        return _("A password needs at least %(count)s characters.",
                 count=accounts.MIN_PASSWORD_LENGTH)
    if new.strip().lower() == user.email:
        return _("A password must not be the e-mail address.")
    return None


def _password_page(user: User, error: str | None = None) -> str:
    return render_template("desk/password.html", forced=user.must_change_password,
                           has_totp=bool(user.totp_secret), error=error,
                           min_length=accounts.MIN_PASSWORD_LENGTH)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out: every session of this user ends, in every browser."""
    user = desk_session.current_user()
    if user is not None:
        with session_scope() as db:
            account = db.get(User, user.id)
            if account is not None:
                account.session_epoch += 1
                record(db, account, "logout")
                db.commit()
    desk_session.end_session()
    flash(_("You are logged out."))
    return redirect(url_for(".login"))
