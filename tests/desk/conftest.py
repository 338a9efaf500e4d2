"""Fixtures of the desk's tests: a deployment, users of each role, and a logged-in client.

Flask's test client talks to the real app on the real test database and Redis (tests/conftest.py);
the browser suite (test_browser_*.py) drives the same app served over real HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.desk.accounts import create_user
from gateway.storage.db import session_scope
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class EnglishClient(FlaskClient):
    """A browser that asks for English pages (the desk also speaks French: test_desk_french)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def desk_app(make_app: Callable[..., Flask], at_api: StandInAPI) -> Flask:
    """An app with the standard deployment (places, roster), SMS to the AT stand-in, plain HTTP."""
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   AT_SENDER_ID="ALERTS", DESK_SECURE_COOKIES=False)
    app.test_client_class = EnglishClient
    deployment.standard(app)
    return app


UserFactory = Callable[..., str]


@pytest.fixture
def make_user(desk_app: Flask) -> UserFactory:
    """Add a user with PASSWORD (changed already); return the e-mail address."""

    def factory(email: str, role: str, pcodes: Sequence[str] = ("CF",), *,
                categories: Sequence[str] = (), focal_point_phone: str | None = None) -> str:
        with session_scope(desk_app) as session:
            create_user(session, email, role, pcodes, categories=categories,
                        focal_point_phone=focal_point_phone, password=PASSWORD)
            session.commit()
        return email

    return factory


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form of a page."""
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    """Log in through /login as a browser would; return the page landed on."""
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_of(page)},
                           follow_redirects=True)
    return response.get_data(as_text=True)


def post(client: FlaskClient, url: str, data: dict[str, str], *, page: str | None = None,
         follow: bool = True) -> tuple[int, str]:
    """POST a desk form with the CSRF token of `page` (default: GET url first)."""
    html = page if page is not None else client.get(url).get_data(as_text=True)
    response = client.post(url, data={**data, "csrf_token": csrf_of(html)},
                           follow_redirects=follow)
    return response.status_code, response.get_data(as_text=True)
