"""Logging in and out of the desk: lockout, one-time passwords, second factor, cookies, CSRF."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.desk.accounts import create_user, disable_user, find_user
from gateway.storage.crypto import decrypt, encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import AuditEntry, DeskRole, RolePolicy, User, utcnow
from tests.desk.conftest import PASSWORD, UserFactory, csrf_of, login, post

EMAIL = "officer@example.org"
REFUSED = "The e-mail address or the password is wrong."
LOCKED = re.compile(r"Too many failed attempts: try again after (\d\d:\d\d) UTC\.")
NEW_PASSWORD = "a much longer passphrase of mine"


@pytest.fixture
def browser(desk_app: Flask) -> FlaskClient:
    """A browser reading the desk in English (the test deployment's default is French)."""
    return english(desk_app)


def english(desk_app: Flask) -> FlaskClient:
    """Another browser, in English."""
    client = desk_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def submit_login(client: FlaskClient, email: str, password: str = PASSWORD,
                 next_: str | None = None) -> Any:
    """POST the login form (not following the redirect); return the response."""
    url = "/login" if next_ is None else f"/login?next={next_}"
    page = client.get(url).get_data(as_text=True)
    data = {"email": email, "password": password, "csrf_token": csrf_of(page)}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data)


def logged_in(client: FlaskClient) -> bool:
    """Tell whether the browser's session opens a page that needs a login."""
    response = client.get("/password")
    if response.status_code == 302:
        assert response.location.startswith("/login")
        return False
    assert response.status_code == 200
    return True


def audit(app: Flask, email: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(app) as db:
        rows = db.scalars(select(AuditEntry).where(AuditEntry.user_email == email)
                          .order_by(AuditEntry.id))
        return [(row.action, row.detail) for row in rows]


def account(app: Flask, email: str = EMAIL) -> User:
    with session_scope(app) as db:
        user = find_user(db, email)
        assert user is not None
        db.expunge(user)
        return user


def test_login_lands_on_the_cases_with_a_fresh_session_and_is_audited(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    page = browser.get("/login").get_data(as_text=True)
    assert 'for="email"' in page and 'for="password"' in page and "Log in</button>" in page
    before = browser.get_cookie("desk")
    assert before is not None
    response = browser.post("/login", data={"email": "  Officer@Example.org ",
                                            "password": PASSWORD,
                                            "csrf_token": csrf_of(page)})
    assert response.status_code == 302 and response.location == "/cases"
    after = browser.get_cookie("desk")
    assert after is not None and after.value != before.value
    with browser.session_transaction() as cookie:
        assert "csrf_token" not in cookie  # the token of the anonymous page is dropped
    assert logged_in(browser)
    assert audit(desk_app, EMAIL) == [("login", {})]
    assert account(desk_app).last_login_at is not None


def test_every_refusal_reads_alike_and_no_password_is_recorded(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    make_user("gone@example.org", "child_protection", ["CF52"])
    with session_scope(desk_app) as db:
        disable_user(db, "gone@example.org")
        db.commit()
    for email, password in ((EMAIL, "not the password"), ("nobody@example.org", PASSWORD),
                            ("gone@example.org", PASSWORD)):
        response = submit_login(browser, email, password)
        assert response.status_code == 200
        assert REFUSED in response.get_data(as_text=True)
        assert not logged_in(browser)
    assert account(desk_app).failed_logins == 1
    assert audit(desk_app, EMAIL) == [("login_failed", {})]
    assert audit(desk_app, "gone@example.org") == [("login_failed", {"reason": "disabled"})]
    with session_scope(desk_app) as db:
        recorded = str([(row.action, row.detail) for row in db.scalars(select(AuditEntry))])
    assert "not the password" not in recorded and PASSWORD not in recorded


def test_the_fifth_failure_locks_for_15_minutes_even_the_right_password(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    for _ in range(4):
        assert REFUSED in submit_login(browser, EMAIL, "wrong guess").get_data(as_text=True)
    fifth = submit_login(browser, EMAIL, "wrong guess").get_data(as_text=True)
    shown = LOCKED.search(fifth)
    assert shown is not None and REFUSED not in fifth
    until = account(desk_app).locked_until
    assert until is not None
    assert timedelta(minutes=14) < until.replace(tzinfo=utcnow().tzinfo) - utcnow() \
        <= timedelta(minutes=15)
    assert until.strftime("%H:%M") <= shown.group(1)  # the minute shown is not before the end
    right = submit_login(browser, EMAIL, PASSWORD)
    assert right.status_code == 200 and LOCKED.search(right.get_data(as_text=True))
    assert not logged_in(browser)
    assert [action for action, _ in audit(desk_app, EMAIL)] == [
        "login_failed", "login_failed", "login_failed", "login_failed", "locked", "login_failed"]
    # Fifteen minutes later (the lock moved back in the database), the password opens again.
    with session_scope(desk_app) as db:
        user = find_user(db, EMAIL)
        assert user is not None
        user.locked_until = utcnow() - timedelta(seconds=1)
        db.commit()
    response = submit_login(browser, EMAIL, PASSWORD)
    assert response.status_code == 302 and response.location == "/cases"
    assert account(desk_app).failed_logins == 0


def test_next_is_followed_only_to_a_path_of_the_desk(
    desk_app: Flask, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    sent_back = english(desk_app).get("/password")
    assert sent_back.status_code == 302 and sent_back.location.startswith("/login?next=")
    assert submit_login(english(desk_app), EMAIL, next_="/password").location == "/password"
    for elsewhere in ("//evil.example/cases", "https://evil.example/", "/\\evil.example"):
        response = submit_login(english(desk_app), EMAIL, next_=elsewhere)
        assert response.status_code == 302 and response.location == "/cases", elsewhere


def test_a_one_time_password_must_be_changed_before_anything_else(
    desk_app: Flask, browser: FlaskClient,
) -> None:
    with session_scope(desk_app) as db:
        _user, one_time = create_user(db, EMAIL, "coordinator", ["CF52"])
        db.commit()
    assert one_time is not None
    other = english(desk_app)  # another browser, logged in with the same one-time password
    assert submit_login(other, EMAIL, one_time).location == "/password"
    response = submit_login(browser, EMAIL, one_time)
    assert response.status_code == 302 and response.location == "/password"
    assert browser.get("/account/totp").location == "/password"
    page = browser.get("/password").get_data(as_text=True)
    assert "one-time password" in page and "Change password</button>" in page
    for field in ("current_password", "new_password", "confirm_password"):
        assert f'<label for="{field}"' in page
    refusals = [
        ({"current_password": "wrong one", "new_password": NEW_PASSWORD,
          "confirm_password": NEW_PASSWORD}, "The current password is wrong."),
        ({"current_password": one_time, "new_password": NEW_PASSWORD,
          "confirm_password": NEW_PASSWORD + "!"}, "The two new passwords differ."),
        ({"current_password": one_time, "new_password": "short",
          "confirm_password": "short"}, "A password needs at least 12 characters."),
    ]
    for data, message in refusals:
        status, html = post(browser, "/password", data)
        assert status == 200 and message in html
    assert account(desk_app).must_change_password
    status, html = post(browser, "/password", {"current_password": one_time,
                                               "new_password": NEW_PASSWORD,
                                               "confirm_password": NEW_PASSWORD},
                        follow=False)
    assert status == 302
    assert browser.get("/password").status_code == 200  # this browser goes on, in a new session
    assert not logged_in(other)  # every other session ended
    assert not account(desk_app).must_change_password
    assert REFUSED in submit_login(other, EMAIL, one_time).get_data(as_text=True)
    assert submit_login(other, EMAIL, NEW_PASSWORD).location == "/cases"
    assert "password_changed" in [action for action, _ in audit(desk_app, EMAIL)]


def require_totp(app: Flask, role: DeskRole) -> None:
    with session_scope(app) as db:
        db.add(RolePolicy(role=role, totp_required=True))
        db.commit()


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def test_a_role_that_requires_totp_sets_it_up_then_each_code_works_once(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    require_totp(desk_app, DeskRole.COORDINATOR)
    make_user(EMAIL, "coordinator", ["CF52"])
    response = submit_login(browser, EMAIL)
    assert response.status_code == 302 and response.location == "/account/totp"
    assert not logged_in(browser)  # nothing else until the second factor is on
    page = browser.get("/account/totp").get_data(as_text=True)
    assert "Turn on</button>" in page and '<label for="code">' in page
    grouped = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page)
    uri = re.search(r"otpauth://totp/[^<\s]+", page)
    assert grouped is not None and uri is not None
    secret = grouped.group(1).replace(" ", "")
    assert len(grouped.group(1).split()) == len(secret) // 4
    assert f"secret={secret}" in uri.group(0)
    assert "http" not in page.split("<main", 1)[1]  # no QR service, nothing from elsewhere
    assert account(desk_app).totp_secret is None
    step = pyotp.TOTP(secret).timecode(utcnow())
    wrong = f"{(int(code_at(secret, step)) + 1) % 1000000:06d}"
    status, html = post(browser, "/account/totp", {"code": wrong}, page=page)
    assert status == 200 and "This code is wrong" in html
    assert account(desk_app).totp_secret is None
    status, _html = post(browser, "/account/totp", {"code": code_at(secret, step)}, page=page,
                         follow=False)
    assert status == 302
    stored = account(desk_app).totp_secret
    assert stored is not None and secret not in stored
    with desk_app.app_context():
        assert decrypt(stored) == secret
    assert logged_in(browser)
    post(browser, "/logout", {}, page=browser.get("/password").get_data(as_text=True))

    # From now on the password leads to the code, and a code is taken once.
    later = code_at(secret, step + 1)
    for attempt in range(2):
        assert submit_login(browser, EMAIL).location == "/login/totp"
        assert not logged_in(browser)
        form = browser.get("/login/totp").get_data(as_text=True)
        assert '<label for="code">' in form and "Verify</button>" in form
        status, html = post(browser, "/login/totp", {"code": later}, page=form, follow=False)
        if attempt == 0:
            assert status == 302 and logged_in(browser)
            post(browser, "/logout", {}, page=browser.get("/password").get_data(as_text=True))
        else:
            assert status == 200 and "wrong or was used already" in html
            assert not logged_in(browser)
    actions = [action for action, _ in audit(desk_app, EMAIL)]
    assert actions == ["login", "totp_on", "logout", "login", "logout", "login_failed"]


def test_wrong_codes_count_toward_the_lock_and_the_password_does_not_reset_them(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "conduct", ["CF"])
    secret = pyotp.random_base32()
    with desk_app.app_context(), session_scope(desk_app) as db:
        user = find_user(db, EMAIL)
        assert user is not None
        user.totp_secret = encrypt(secret)
        db.commit()
    step = pyotp.TOTP(secret).timecode(utcnow())
    wrong = f"{(int(code_at(secret, step)) + 500000) % 1000000:06d}"
    for _ in range(4):
        assert submit_login(browser, EMAIL).location == "/login/totp"
        form = browser.get("/login/totp").get_data(as_text=True)
        status, _html = post(browser, "/login/totp", {"code": wrong}, page=form)
        assert status == 200
    # The right password again does not wipe the four wrong codes: the fifth locks.
    assert submit_login(browser, EMAIL).location == "/login/totp"
    form = browser.get("/login/totp").get_data(as_text=True)
    status, html = post(browser, "/login/totp", {"code": wrong}, page=form)
    assert status == 200 and LOCKED.search(html)  # back on the login page, with the lock
    assert account(desk_app).locked_until is not None
    assert LOCKED.search(submit_login(browser, EMAIL).get_data(as_text=True))
    assert not logged_in(browser)


def test_logout_ends_every_session_of_the_user_and_a_replayed_cookie_gets_the_login(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    elsewhere = english(desk_app)
    login(browser, EMAIL)
    login(elsewhere, EMAIL)
    assert logged_in(browser) and logged_in(elsewhere)
    stolen = browser.get_cookie("desk")
    assert stolen is not None
    status, html = post(browser, "/logout", {}, page=browser.get("/password").get_data(
        as_text=True))
    assert status == 200 and "You are logged out." in html and "Log in</button>" in html
    assert not logged_in(elsewhere)
    browser.set_cookie("desk", stolen.value)
    replayed = browser.get("/password")
    assert replayed.status_code == 302 and replayed.location.startswith("/login")
    assert [action for action, _ in audit(desk_app, EMAIL)] == ["login", "login", "logout"]


def test_disabling_a_user_ends_their_live_session(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    login(browser, EMAIL)
    assert logged_in(browser)
    with session_scope(desk_app) as db:
        disable_user(db, EMAIL)
        db.commit()
    assert not logged_in(browser)
    assert REFUSED in submit_login(browser, EMAIL).get_data(as_text=True)


def test_a_session_idle_longer_than_the_limit_is_over(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    assert desk_app.config["DESK_IDLE_MINUTES"] == 30
    make_user(EMAIL, "child_protection", ["CF52"])
    login(browser, EMAIL)
    with browser.session_transaction() as cookie:
        cookie["seen"] = int(time.time()) - 29 * 60
    assert logged_in(browser)  # 29 minutes idle: still on, and seen again now
    with browser.session_transaction() as cookie:
        assert cookie["seen"] >= int(time.time()) - 5
        cookie["seen"] = int(time.time()) - 31 * 60
    assert not logged_in(browser)


def set_cookie_header(client: FlaskClient) -> str:
    headers = client.get("/login").headers.getlist("Set-Cookie")
    assert len(headers) == 1, headers
    return headers[0]


def test_the_session_cookie_is_host_only_secure_httponly_and_samesite(
    make_app: Any, desk_app: Flask,
) -> None:
    secure = make_app(DESK_SECURE_COOKIES=True).test_client()
    header = set_cookie_header(secure)
    attributes = [part.strip() for part in header.split(";")]
    assert attributes[0].startswith("__Host-desk=")
    assert "Secure" in attributes and "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes and "Path=/" in attributes
    assert not any(part.lower().startswith("domain=") for part in attributes)
    plain = [part.strip() for part in set_cookie_header(desk_app.test_client()).split(";")]
    assert plain[0].startswith("desk=")
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    browser.get("/login")
    refused = browser.post("/login", data={"email": EMAIL, "password": "wrong guess"})
    assert refused.status_code == 400
    assert browser.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                        "csrf_token": "forged"}).status_code == 400
    assert not logged_in(browser)
    assert account(desk_app).failed_logins == 0 and audit(desk_app, EMAIL) == []
    login(browser, EMAIL)
    epoch = account(desk_app).session_epoch
    assert browser.post("/logout").status_code == 400
    assert browser.post("/password", data={"current_password": PASSWORD,
                                           "new_password": NEW_PASSWORD,
                                           "confirm_password": NEW_PASSWORD}).status_code == 400
    assert logged_in(browser)
    assert account(desk_app).session_epoch == epoch
    assert REFUSED in submit_login(english(desk_app), EMAIL, NEW_PASSWORD).get_data(
        as_text=True)


def test_a_user_may_turn_on_the_second_factor_and_other_sessions_end(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    elsewhere = english(desk_app)
    login(browser, EMAIL)
    login(elsewhere, EMAIL)
    assert 'href="/account/totp"' in browser.get("/password").get_data(as_text=True)
    page = browser.get("/account/totp").get_data(as_text=True)
    assert "requires a second factor" not in page
    found = re.search(r"secret=([A-Z2-7]+)", page)
    assert found is not None
    secret = found.group(1)
    step = pyotp.TOTP(secret).timecode(utcnow())
    status, html = post(browser, "/account/totp", {"code": code_at(secret, step)}, page=page)
    assert status == 200 and "The second factor is on" in html
    assert logged_in(browser) and not logged_in(elsewhere)
    assert submit_login(elsewhere, EMAIL).location == "/login/totp"


def test_a_code_given_too_long_after_the_password_starts_the_login_again(
    desk_app: Flask, browser: FlaskClient, make_user: UserFactory,
) -> None:
    make_user(EMAIL, "child_protection", ["CF52"])
    secret = pyotp.random_base32()
    with desk_app.app_context(), session_scope(desk_app) as db:
        user = find_user(db, EMAIL)
        assert user is not None
        user.totp_secret = encrypt(secret)
        db.commit()
    assert submit_login(browser, EMAIL).location == "/login/totp"
    form = browser.get("/login/totp").get_data(as_text=True)
    with browser.session_transaction() as cookie:
        assert set(cookie) <= {"pending", "csrf_token", "_flashes"}  # nobody is logged in yet
        cookie["pending"] = {**cookie["pending"], "at": int(time.time()) - 6 * 60}
    code = pyotp.TOTP(secret).now()
    status, html = post(browser, "/login/totp", {"code": code}, page=form)
    assert status == 200 and "Please log in again." in html and "Log in</button>" in html
    assert not logged_in(browser)
