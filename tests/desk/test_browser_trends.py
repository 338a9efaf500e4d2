"""The trends page in a real browser (Debian's chromium): a coordinator opens it from the desk,
reads the table with its hidden small cells, sees the SVG chart, and changes the level; axe-core
finds nothing serious on it."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from playwright.sync_api import Page, expect

from gateway.storage.models import CaseKind, utcnow
from tests.desk.browser import LogIn
from tests.desk.conftest import UserFactory
from tests.desk.test_browser_a11y import blocking_violations
from tests.trends.test_trends import add_case as write_case

pytest_plugins = ["tests.desk.browser"]  # live_server, browser, page, log_in

COORDINATOR = "coordinator.ouaka@example.org"


def test_a_coordinator_reads_the_trends_table_and_chart(
    page: Page, desk_app: Flask, make_user: UserFactory, log_in: LogIn,
) -> None:
    created = utcnow() - timedelta(hours=1)
    month = created.strftime("%Y-%m")
    for _ in range(6):
        write_case(desk_app, "CF521", created_at=created, girls="2-3", boys="0")
    write_case(desk_app, "CF522", created_at=created)
    write_case(desk_app, "CF611", created_at=created)  # Haute-Kotto: not this coordinator's
    for _ in range(9):
        write_case(desk_app, "CF521", kind=CaseKind.COMPLAINT, category="sexual_violence",
                 created_at=created)
    make_user(COORDINATOR, "coordinator", ["CF52"])
    log_in(page, COORDINATOR)
    page.goto("/trends")

    expect(page.get_by_role("heading", level=1)).to_have_text("Trends")
    rows = page.locator("#trends-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("th")).to_have_text("Ouaka")
    expect(rows.first.locator("td")).to_have_text(
        ["CF52", "Recruitment or use", month, "7", "13", "0", "0"])
    chart = page.locator("svg#trends-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(1)
    box = chart.locator("rect").bounding_box()
    assert box is not None and box["height"] > 100  # drawn, and the tallest bar fills it
    expect(page.get_by_text("Sexual violence")).to_have_count(0)
    expect(page.get_by_text("Haute-Kotto")).to_have_count(0)
    assert blocking_violations(page) == []  # axe-core: labels, contrast, headings, tables

    # The level selector, by its label: Bambari and Ippy, Ippy's single alert hidden.
    page.get_by_label("Level of places").select_option("2")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "level=2" in page.url
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("th")).to_have_text("Bambari")
    expect(rows.nth(1).locator("td")).to_have_text(
        ["CF522", "Recruitment or use", month, "<5", "<5", "0", "0"])
    expect(page.locator("#timing-table")).to_have_count(0)  # nothing acknowledged yet
