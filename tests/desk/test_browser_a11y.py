"""Every desk page passes axe-core (shipped with axe-playwright-python, no CDN) in chromium:
no serious or critical violation (labels, contrast, headings, landmarks, table headers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page

from tests.desk.conftest import UserFactory, login
from tests.test_follow_up import report

pytest_plugins = ["tests.desk.browser"]  # live_server, browser, page, log_in, add_case

if TYPE_CHECKING:
    from tests.desk.browser import CaseMaker, LogIn

BLOCKING = ("serious", "critical")
ADMIN_PAGES = ("/admin", "/admin/users", "/admin/focal-points", "/admin/places",
               "/admin/services", "/admin/outbox", "/admin/jobs", "/admin/audit")
AXE = Axe()


def blocking_violations(page: Page) -> list[str]:
    """Run axe on the page as it is; one line per serious or critical violation."""
    response: dict[str, Any] = AXE.run(page).response
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in response["violations"]
        if violation["impact"] in BLOCKING
    ]


def check(page: Page, paths: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response)
        found += blocking_violations(page)
    return found


def test_the_login_page_the_case_list_and_a_case_page_pass_axe(
    page: Page, desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None],
    log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user("cp@example.org", "child_protection", ["CF52"])
    reference = report(desk_app.test_client(), sms_later=False)  # answers, SMS, history
    run_jobs(desk_app)
    add_case("CF522", category="abduction", urgent=True, minutes_ago=5)
    found = check(page, ("/login",))
    log_in(page, "cp@example.org")
    found += check(page, ("/cases", f"/cases/{reference}"))
    assert not found, "axe found serious/critical violations:\n" + "\n".join(found)


def test_every_admin_page_passes_axe(
    page: Page, desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None],
    log_in: LogIn
) -> None:
    make_user("admin@example.org", "admin", ["CF"])
    make_user("cp@example.org", "child_protection", ["CF52"])
    reference = report(desk_app.test_client(), sms_later=False)  # an outbox, jobs run
    run_jobs(desk_app)
    viewer = desk_app.test_client()
    login(viewer, "cp@example.org")
    assert viewer.get(f"/cases/{reference}").status_code == 200  # a row in the audit
    log_in(page, "admin@example.org")
    found = check(page, ADMIN_PAGES)
    assert not found, "axe found serious/critical violations:\n" + "\n".join(found)
