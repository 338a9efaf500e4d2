"""The browser suite's harness: the desk served over real HTTP, driven by Debian's chromium.

A test module loads it with `pytest_plugins = ["tests.desk.browser"]` (and imports nothing from
it but types, under TYPE_CHECKING: pytest then rewrites its asserts). `live_server` serves the
`desk_app` fixture's app (the real app, real database and Redis) on 127.0.0.1 from a thread;
`browser` is one headless chromium per test session, the one Debian packages (`apt-get install
chromium`): Playwright never downloads a browser here. Each test gets a fresh context (cookies,
cache) in English, through `new_page`/`page`; `log_in` and `add_case` are helpers.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from gateway.cases.references import new_reference
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseKind, CaseStatus, Channel, Location, utcnow
from tests.desk.conftest import PASSWORD

TIMEOUT_MS = 10_000  # a page of the desk answers in well under a second; fail fast otherwise
MISSING_CHROMIUM = (
    "the desk's browser tests need Debian's chromium (`apt-get install chromium`; .ci/run "
    "installs it): no `chromium` on PATH"
)

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def live_server(desk_app: Flask) -> Iterator[str]:
    """Serve the desk app over HTTP on a free local port; its base URL."""
    server = make_server("127.0.0.1", 0, desk_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="desk-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the desk's live server did not stop"


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver, started once per test session and stopped at its end."""
    if shutil.which("chromium") is None:
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless chromium (Debian's) for the session, closed at its end."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    # Chromium's sandbox cannot start as root (containers, CI); anyone else keeps it.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright_driver.chromium.launch(executable_path=executable, headless=True,
                                                 args=args)
    yield launched
    launched.close()


PageFactory = Callable[[], Page]


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[PageFactory]:
    """Open pages in fresh contexts (their own cookies: another person), in English."""
    contexts = []

    def factory() -> Page:
        context = browser.new_context(base_url=live_server, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    """A page in a fresh context, on the live desk."""
    return new_page()


LogIn = Callable[..., None]
CaseMaker = Callable[..., str]


@pytest.fixture
def log_in() -> LogIn:
    """Log in as a person would: fill in the login form and send it."""

    def fill_in(page: Page, email: str, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()

    return fill_in


@pytest.fixture
def add_case(desk_app: Flask) -> CaseMaker:
    """Write routed cases straight into the database (for lists and filters)."""

    def add(pcode: str, *, kind: CaseKind = CaseKind.ALERT, category: str = "recruitment",
            urgent: bool | None = None, minutes_ago: int = 0, closed: bool = False) -> str:
        now = utcnow() - timedelta(minutes=minutes_ago)
        with session_scope(desk_app) as session:
            location = session.scalar(select(Location).where(Location.pcode == pcode))
            assert location is not None, pcode
            case = Case(reference=new_reference(), kind=kind, channel=Channel.USSD,
                        status=CaseStatus.ROUTED, category=category, location=location,
                        urgent=urgent, language="en", created_at=now, routed_at=now,
                        closed_at=now if closed else None)
            session.add(case)
            session.commit()
            return case.reference

    return add
