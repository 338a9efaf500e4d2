"""The administration pages: only an admin opens them; users, the second-factor policy, audit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.desk import audit
from gateway.storage.db import session_scope
from gateway.storage.models import AuditEntry, Case, DeskRole, RolePolicy, User
from tests.desk.conftest import UserFactory, csrf_of, login, post
from tests.test_follow_up import report

ADMIN = "admin@example.org"
CP = "cp@example.org"
OTHER_CP = "cp2@example.org"

GET_PAGES = ("/admin", "/admin/users", "/admin/focal-points", "/admin/places",
             "/admin/services", "/admin/outbox", "/admin/jobs", "/admin/audit")
POST_ACTIONS = ("/admin/users/1/disable", "/admin/users/policy",
                "/admin/focal-points/1/deactivate", "/admin/focal-points/import",
                "/admin/places/import", "/admin/services/1/deactivate",
                "/admin/services/import", "/admin/jobs/sms-in-1/retry")


def browser(app: Flask) -> FlaskClient:
    """A browser reading the desk in English (the test deployment's default is French)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def admin(desk_app: Flask, make_user: UserFactory) -> FlaskClient:
    """A browser with an admin logged in."""
    make_user(ADMIN, "admin", ["CF"])
    client = browser(desk_app)
    login(client, ADMIN)
    return client


def audit_rows(app: Flask, action: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(app) as db:
        return [(row.user_email, row.detail) for row in db.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def table_rows(html: str) -> list[str]:
    """Return the rows of the page's table body, tags stripped, spaces folded."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


@pytest.mark.parametrize("role", [r.value for r in DeskRole if r != DeskRole.ADMIN])
def test_every_admin_page_is_missing_for_any_other_role(
    desk_app: Flask, make_user: UserFactory, role: str
) -> None:
    make_user(CP, role, ["CF"])
    client = browser(desk_app)
    login(client, CP)
    for path in GET_PAGES:
        assert client.get(path).status_code == 404, path
    token = csrf_of(client.get("/password").get_data(as_text=True))
    for path in POST_ACTIONS:
        response = client.post(path, data={"csrf_token": token, "totp_required": "conduct"})
        assert response.status_code == 404, path
    with session_scope(desk_app) as db:
        assert db.scalars(select(RolePolicy)).all() == []
        assert all(user.active for user in db.scalars(select(User)))


def test_without_a_login_an_admin_page_asks_for_one(desk_app: Flask) -> None:
    response = browser(desk_app).get("/admin/outbox")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_index_links_every_page_with_its_count(admin: FlaskClient) -> None:
    html = admin.get("/admin").get_data(as_text=True)
    for path in GET_PAGES[1:]:
        assert f'href="{path}"' in html, path
    counts = dict(re.findall(r'<strong id="count-([a-z-]+)">(\d+)</strong>', html))
    # The standard deployment: 7 places, 3 focal points; one user (the admin); nothing else.
    assert counts == {"users": "1", "focal-points": "3", "places": "7", "services": "0",
                      "failed": "0", "not-sent": "0", "failed-jobs": "0"}
    assert html.count("<h1>") == 1


def test_the_users_page_lists_users_and_says_where_they_are_created(
    desk_app: Flask, admin: FlaskClient, make_user: UserFactory
) -> None:
    make_user(CP, "child_protection", ["CF52"], categories=["recruitment"],
              focal_point_phone="+23670000011")
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "gateway users add" in html
    rows = table_rows(html)
    assert len(rows) == 2
    [admin_row] = [row for row in rows if ADMIN in row]
    [cp_row] = [row for row in rows if CP in row]
    assert "Administrator" in admin_row and "Central African Republic (CF)" in admin_row
    assert "Disable" not in admin_row  # not oneself
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", admin_row)  # logged in just now
    assert "Child protection" in cp_row and "Ouaka (CF52)" in cp_row
    assert "recruitment" in cp_row and "Ouaka CP" in cp_row and "never" in cp_row
    assert "Disable" in cp_row and 'scope="col"' in html


def test_disabling_a_user_ends_their_session_and_is_audited(
    desk_app: Flask, admin: FlaskClient, make_user: UserFactory
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    officer = browser(desk_app)
    login(officer, CP)
    assert officer.get("/password").status_code == 200
    with session_scope(desk_app) as db:
        cp_id = db.scalar(select(User.id).where(User.email == CP))
        admin_id = db.scalar(select(User.id).where(User.email == ADMIN))

    status, html = post(admin, f"/admin/users/{cp_id}/disable", {}, page=admin.get(
        "/admin/users").get_data(as_text=True))
    assert status == 200 and f"{CP} is disabled" in html
    cp_row = next(row for row in table_rows(html) if CP in row)
    assert "no" in cp_row.split() and "Disable" not in cp_row
    assert officer.get("/password").status_code == 302  # logged out at once
    assert audit_rows(desk_app, "user_disabled") == [(ADMIN, {"email": CP})]

    # One's own account stays open (the last admin would lock everyone out).
    status, html = post(admin, f"/admin/users/{admin_id}/disable", {}, page=html)
    assert "You cannot disable your own account." in html
    assert admin.get("/admin").status_code == 200
    assert len(audit_rows(desk_app, "user_disabled")) == 1


def test_the_policy_form_sets_the_second_factor_per_role(
    desk_app: Flask, admin: FlaskClient
) -> None:
    def required() -> set[str]:
        with session_scope(desk_app) as db:
            return {p.role.value for p in db.scalars(select(RolePolicy)) if p.totp_required}

    page = admin.get("/admin/users").get_data(as_text=True)
    for role in DeskRole:
        assert f'<label for="totp-{role.value}">' in page
    response = admin.post("/admin/users/policy", data={
        "csrf_token": csrf_of(page), "totp_required": ["conduct", "triage"]},
        follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "The second-factor policy is saved." in html
    assert required() == {"conduct", "triage"}
    assert 'value="conduct" checked' in html and 'value="triage" checked' in html
    assert 'value="admin" checked' not in html

    admin.post("/admin/users/policy", data={"csrf_token": csrf_of(html),
                                            "totp_required": ["triage"]})
    assert required() == {"triage"}
    assert audit_rows(desk_app, "policy_changed") == [
        (ADMIN, {"totp_required": ["conduct", "triage"]}), (ADMIN, {"totp_required": ["triage"]})]
    # The same boxes again: nothing changes, nothing is recorded.
    admin.post("/admin/users/policy", data={"csrf_token": csrf_of(html),
                                            "totp_required": ["triage"]})
    assert len(audit_rows(desk_app, "policy_changed")) == 2


def test_requiring_a_second_factor_ends_the_open_sessions_of_that_role(
    desk_app: Flask, admin: FlaskClient, make_user: UserFactory
) -> None:
    make_user("conduct@example.org", "conduct")
    make_user("cp@example.org", "child_protection", ["CF52"])
    conduct, cp = desk_app.test_client(), desk_app.test_client()
    login(conduct, "conduct@example.org")
    login(cp, "cp@example.org")
    assert conduct.get("/cases").status_code == cp.get("/cases").status_code == 200
    page = admin.get("/admin/users").get_data(as_text=True)
    admin.post("/admin/users/policy", data={"csrf_token": csrf_of(page),
                                            "totp_required": ["conduct"]})
    # Opened without the factor: over now; the next login sets the factor up.
    gone = conduct.get("/cases")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/login")
    assert "<h1>Second factor</h1>" in login(conduct, "conduct@example.org")
    assert conduct.get("/cases").status_code == 302  # nothing else until it is set up
    assert cp.get("/cases").status_code == 200  # another role: untouched
    assert admin.get("/admin/users").status_code == 200  # the admin acting keeps theirs


def test_the_audit_page_filters_by_case_and_user_and_records_its_viewing(
    desk_app: Flask, admin: FlaskClient, make_user: UserFactory
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(OTHER_CP, "child_protection", ["CF52"])
    first = report(desk_app.test_client(), sms_later=False)
    second = report(desk_app.test_client(), sms_later=False)
    with session_scope(desk_app) as db:
        users = {u.email: u for u in db.scalars(select(User))}
        cases = {c.reference: c for c in db.scalars(select(Case))}
        for email, reference in ((CP, first), (OTHER_CP, first), (CP, second)):
            audit.record(db, users[email], "case_viewed", case=cases[reference])
        db.commit()

    def shown(query: str) -> list[str]:
        return table_rows(admin.get(f"/admin/audit{query}").get_data(as_text=True))

    by_case = shown(f"?case={first}")
    assert len(by_case) == 2 and all(first in row and "case_viewed" in row for row in by_case)
    assert {CP, OTHER_CP} == {email for row in by_case for email in (CP, OTHER_CP) if email in row}
    by_user = shown(f"?user={CP.upper()}")
    assert len(by_user) == 2 and all(CP in row for row in by_user)
    assert {first, second} == {ref for row in by_user for ref in (first, second) if ref in row}
    [both] = shown(f"?case={second}&user={CP}")
    assert second in both and CP in both
    assert shown("?case=999999") == ["No entries."]

    everything = shown("")
    assert everything[0].startswith(tuple("0123456789"))  # the time first
    assert "audit_viewed" in everything[0]  # the views above, newest first
    assert [detail for _, detail in audit_rows(desk_app, "audit_viewed")][:3] == [
        {"case_filter": first}, {"user_filter": CP},
        {"case_filter": second, "user_filter": CP}]


def test_the_audit_page_is_paged_by_50(desk_app: Flask, admin: FlaskClient) -> None:
    with session_scope(desk_app) as db:
        me = db.scalar(select(User).where(User.email == ADMIN))
        assert me is not None
        for number in range(60):
            audit.record(db, me, "test_action", number=number)
        db.commit()
    html = admin.get("/admin/audit").get_data(as_text=True)
    rows = table_rows(html)
    assert len(rows) == 50 and "number: 59" in rows[0]
    assert 'href="/admin/audit?page=2"' in html and "Previous" not in html
    with session_scope(desk_app) as db:
        total = len(db.scalars(select(AuditEntry)).all())  # with the login and that view
    page_two = admin.get("/admin/audit?page=2").get_data(as_text=True)
    rows = table_rows(page_two)
    assert len(rows) == total - 50
    assert "number: 0" in rows[-2] and " login" in rows[-1]  # the oldest: the admin's login
    assert "Previous" in page_two and "?page=3" not in page_two
