"""The case list weighs little on a slow link: a full page of 25 cases, everything it loads
counted, under 60 kB, all of it from the desk itself (no CDN, no font or script elsewhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request

from tests.desk.conftest import UserFactory

pytest_plugins = ["tests.desk.browser"]  # live_server, browser, page, log_in, add_case

if TYPE_CHECKING:
    from tests.desk.browser import CaseMaker, LogIn

LIMIT = 60_000  # bytes, headers included
PER_PAGE = 25
CATEGORIES = ("recruitment", "abduction", "sexual_violence", "killing", "attack_on_schools")
PLACES = ("CF52", "CF521", "CF522")


def test_a_full_case_list_is_under_60_kb_and_all_of_it_from_the_desk(
    page: Page, make_user: UserFactory, live_server: str, log_in: LogIn, add_case: CaseMaker
) -> None:
    make_user("cp@example.org", "child_protection", ["CF52"])
    for number in range(PER_PAGE + 1):  # a second page: the pager shows too
        add_case(PLACES[number % len(PLACES)],
                 category=CATEGORIES[number % len(CATEGORIES)],
                 urgent=(None, True, False)[number % 3], minutes_ago=number * 7)
    log_in(page, "cp@example.org")

    asked: list[Request] = []
    finished: list[Request] = []
    page.on("request", lambda request: asked.append(request))
    page.on("requestfinished", lambda request: finished.append(request))
    response = page.goto("/cases")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert len(page.locator("main a[href^='/cases/']").all()) == PER_PAGE

    origin = urlsplit(live_server).netloc
    elsewhere = [r.url for r in asked if urlsplit(r.url).netloc != origin]
    assert not elsewhere, f"the case list loads from other hosts: {elsewhere}"
    sizes = {r.url: r.sizes() for r in finished}
    total = sum(s["responseHeadersSize"] + s["responseBodySize"] for s in sizes.values())
    assert any(url.endswith(".css") for url in sizes), "the style sheet was not loaded"
    print(f"the case list of {PER_PAGE} cases: {total} bytes transferred")
    assert total < LIMIT, f"{total} bytes transferred: " + ", ".join(
        f"{url} {s['responseHeadersSize'] + s['responseBodySize']}" for url, s in sizes.items())
