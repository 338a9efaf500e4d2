"""The desk driven in a real browser (Debian's chromium): log in, find a case, work it, and the
walls around it (scope, CSRF, the audit), as the people who use it would."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseKind, FocalPoint, Outcome, Role, Verification
from tests import deployment
from tests.desk.conftest import UserFactory
from tests.test_complaints import CONDUCT_PHONE, complain
from tests.test_follow_up import report
from tests.test_ussd import reference_in

pytest_plugins = ["tests.desk.browser"]  # live_server, browser, page, log_in, add_case

if TYPE_CHECKING:
    from tests.desk.browser import CaseMaker, LogIn, PageFactory

CP = "cp.ouaka@example.org"  # child protection, Ouaka (CF52): the Ouaka CP focal point too
CONDUCT = "conduct.ouaka@example.org"
ADMIN = "admin@example.org"
WRONG = "not the password at all"


def alert_by_ussd(app: Flask, run_jobs: Callable[..., None]) -> str:
    """A real alert (Ouaka > Bambari) made by USSD and routed; its reference."""
    reference = report(app.test_client(), sms_later=False)
    run_jobs(app)
    return reference


def complaint_by_ussd(app: Flask, run_jobs: Callable[..., None]) -> str:
    """A real conduct complaint (Ouaka > Bambari) made by USSD and routed; its reference."""
    deployment.add_focal_point(app, name="Conduct Ouaka", phone=CONDUCT_PHONE, pcodes=["CF52"],
                               role=Role.CONDUCT)
    reference = reference_in(complain(app.test_client()))
    run_jobs(app)
    return reference


def case_of(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.expunge(case)
        return case


def listed(page: Page) -> list[str]:
    """The references the case list shows, in its order."""
    return page.locator("main a[href^='/cases/']").all_inner_texts()


def count(page: Page, name: str) -> str:
    return page.locator(f"#count-{name} strong").inner_text().strip()


def act(page: Page, button: str) -> None:
    """Press an action's button and wait for the case page it sends back to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def test_a_user_logs_in_after_a_wrong_password_and_logs_out(
    page: Page, make_user: UserFactory, log_in: LogIn
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    log_in(page, CP, WRONG)
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("main")).to_contain_text("The e-mail address or the password is wrong.")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    log_in(page, CP)
    expect(page).to_have_url(re.compile(r"/cases$"))
    expect(page.locator("header")).to_contain_text(CP)
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login"))


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    page: Page, make_user: UserFactory, log_in: LogIn
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    for _ in range(4):
        log_in(page, CP, WRONG)
        expect(page.locator("main")).to_contain_text("the password is wrong")
    log_in(page, CP, WRONG)
    expect(page.locator("main")).to_contain_text("Too many failed attempts: try again after")
    log_in(page, CP)
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("main")).to_contain_text("Too many failed attempts: try again after")
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_case_list_shows_the_users_open_cases_newest_first_and_filters_them(
    page: Page, make_user: UserFactory, log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    newest = add_case("CF521", category="abduction", urgent=True, minutes_ago=1)
    middle = add_case("CF522", category="recruitment", minutes_ago=5)
    oldest = add_case("CF52", category="recruitment", minutes_ago=9)
    closed = add_case("CF521", category="abduction", minutes_ago=3, closed=True)
    bangui = add_case("CF11", category="abduction", minutes_ago=2)
    complaint = add_case("CF521", kind=CaseKind.COMPLAINT, category="other")

    log_in(page, CP)
    page.goto("/cases")
    assert listed(page) == [newest, middle, oldest]
    assert count(page, "open") == "3"
    assert count(page, "unacknowledged") == "3"
    assert not {closed, bangui, complaint} & set(page.locator("main").inner_text().split())

    page.locator("select[name=category]").select_option("abduction")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"category=abduction"))
    assert listed(page) == [newest]

    page.locator("select[name=state]").select_option("all")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert listed(page) == [newest, closed]


def test_a_case_is_opened_from_the_list_and_worked_from_the_desk(
    page: Page, desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None],
    log_in: LogIn
) -> None:
    make_user(CP, "child_protection", ["CF52"], focal_point_phone=deployment.OUAKA_PHONE)
    reference = alert_by_ussd(desk_app, run_jobs)
    log_in(page, CP)
    page.goto("/cases")
    with page.expect_navigation():
        page.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {reference}")
    for section in ("Details", "Messages", "Possible duplicates", "Notes", "History", "Actions"):
        expect(page.get_by_role("heading", level=2, name=section, exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Bambari")
    history = page.locator("ol.timeline > li")
    seen = history.count()
    assert seen >= 2  # created, routed, the SMS to the focal point...

    def done(message: str) -> None:
        """The case page again, a message saying it was done, the history one step longer."""
        nonlocal seen
        expect(page).to_have_url(re.compile(rf"/cases/{reference}$"))
        expect(page.locator(".flash")).to_have_text(message)
        seen += 1
        expect(history).to_have_count(seen)

    act(page, "Acknowledge")
    done("Case acknowledged.")
    assert case_of(desk_app, reference).acknowledged_at is not None
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)

    note = "Met the family at the school; a partner is following up."
    page.locator("textarea[name=note]").fill(note)
    act(page, "Add note")
    done("Note added.")
    expect(page.locator("main")).to_contain_text(note)

    page.locator("select[name=verification]").select_option("verified")
    act(page, "Save verification")
    done("Verification saved.")
    assert case_of(desk_app, reference).verification == Verification.VERIFIED

    page.locator("select[name=outcome]").select_option("referred")
    act(page, "Close case")
    done("Case closed.")
    closed = case_of(desk_app, reference)
    assert closed.closed_at is not None and closed.outcome == Outcome.REFERRED
    expect(page.get_by_role("button", name="Close case", exact=True)).to_have_count(0)

    act(page, "Reopen")
    done("Case reopened.")
    assert case_of(desk_app, reference).closed_at is None
    expect(page.get_by_role("button", name="Close case", exact=True)).to_have_count(1)

    with session_scope(desk_app) as session:
        backup = session.scalar(select(FocalPoint.id).where(
            FocalPoint.phone == deployment.OUAKA_BACKUP_PHONE))
    page.locator("select[name=assignee]").select_option(f"fp:{backup}")
    act(page, "Assign")
    done("Case assigned.")
    assert case_of(desk_app, reference).assigned_focal_point_id == backup
    expect(page.locator("main")).to_contain_text("Ouaka backup")


def test_a_child_protection_user_of_ouaka_gets_404_for_bangui_and_for_any_complaint(
    page: Page, desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None],
    log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    complaint = complaint_by_ussd(desk_app, run_jobs)
    bangui = add_case("CF11", category="abduction")
    log_in(page, CP)

    missing = page.goto("/cases/1234567")
    assert missing is not None and missing.status == 404
    not_found = page.locator("body").inner_text().replace("1234567", "REF")
    for reference in (bangui, complaint):
        response = page.goto(f"/cases/{reference}")
        assert response is not None and response.status == 404, reference
        # Word for word the page of a case that does not exist: nothing tells it is there.
        assert page.locator("body").inner_text().replace(reference, "REF") == not_found
    page.goto("/cases?state=all")
    assert listed(page) == []


def test_a_conduct_user_of_ouaka_opens_the_complaint(
    page: Page, desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None],
    log_in: LogIn
) -> None:
    make_user(CONDUCT, "conduct", ["CF52"])
    complaint = complaint_by_ussd(desk_app, run_jobs)
    log_in(page, CONDUCT)
    page.goto("/cases")
    assert listed(page) == [complaint]
    response = page.goto(f"/cases/{complaint}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {complaint}")


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    page: Page, desk_app: Flask, make_user: UserFactory, log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    reference = add_case("CF521")
    log_in(page, CP)
    page.goto(f"/cases/{reference}")
    url = f"/cases/{reference}/acknowledge"
    # The browser's own cookies (the session), but no token, then a wrong one: 400 both.
    assert page.request.post(url, form={"x": "1"}).status == 400
    assert page.request.post(url, form={"csrf_token": "forged"}).status == 400
    assert case_of(desk_app, reference).acknowledged_at is None
    # The same request with the page's token goes through: the token was all that was missing.
    token = page.locator(f"form[action$='{url}'] input[name=csrf_token]").get_attribute("value")
    assert token
    done = page.request.post(url, form={"csrf_token": token})
    assert done.ok and done.url.endswith(f"/cases/{reference}")
    assert case_of(desk_app, reference).acknowledged_at is not None


def test_the_audit_page_shows_each_view_of_a_case(
    page: Page, new_page: PageFactory, make_user: UserFactory, log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(ADMIN, "admin", ["CF"])
    reference = add_case("CF521")
    other = add_case("CF522")
    log_in(page, CP)
    page.goto(f"/cases/{reference}")
    page.reload()
    page.goto(f"/cases/{other}")

    admin = new_page()
    log_in(admin, ADMIN)
    admin.goto("/admin/audit")
    admin.get_by_label("Case reference").fill(reference)
    admin.get_by_label("User e-mail").fill(CP)
    with admin.expect_navigation():
        admin.get_by_role("button", name="Filter").click()
    rows = admin.locator("main table tbody tr")
    action = admin.locator("td:nth-child(4)")
    views = rows.filter(has=action.filter(has_text=re.compile(r"^\s*view\s*$")))
    expect(views).to_have_count(2)
    for row in views.all():
        expect(row).to_contain_text(reference)
        expect(row).to_contain_text(CP)
    expect(rows.filter(has_text=other)).to_have_count(0)
