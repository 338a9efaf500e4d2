"""`gateway users add|list|disable`: accounts made at the shell, as the desk then sees them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from gateway.commands import users
from gateway.desk.accounts import find_user
from gateway.storage.db import session_scope
from gateway.storage.models import DeskRole, RolePolicy
from tests import deployment
from tests.conftest import TEST_SECRET
from tests.desk.conftest import csrf_of

OWN_PASSWORD = "a passphrase typed at the shell"


@pytest.fixture
def gateway_cli(desk_app: Flask, schema: str, data_dir: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[click.Group]:
    """The users commands, their settings pointing at the test database (deployment loaded)."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    yield click.Group("gateway", commands=users.COMMANDS)


def run(group: click.Group, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(group, list(args), input=stdin)


def log_in(app: Flask, email: str, password: str) -> tuple[FlaskClient, str | None]:
    """Log in with a fresh browser; return it and where the login sent it (None: refused)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_of(page)})
    return client, (response.location if response.status_code == 302 else None)


def test_add_without_a_password_prints_a_one_time_password_to_change_at_first_login(
    desk_app: Flask, gateway_cli: click.Group,
) -> None:
    added = run(gateway_cli, "users", "add", "Coord@Example.org", "--role", "coordinator",
                "--places", "CF52;CF61")
    assert added.exit_code == 0, added.output
    assert "must be changed at first login" in added.output
    found = re.search(r"one-time password: (\S+)", added.output)
    assert found is not None
    one_time = found.group(1)
    assert len(one_time) == 19 and "$argon2" not in added.output
    with session_scope(desk_app) as db:
        user = find_user(db, "coord@example.org")
        assert user is not None and user.must_change_password
        assert [place.pcode for place in user.locations] == ["CF52", "CF61"]
    _client, landed = log_in(desk_app, "coord@example.org", one_time)
    assert landed == "/password"


def test_add_with_a_password_on_stdin_and_a_focal_point_then_list(
    desk_app: Flask, gateway_cli: click.Group,
) -> None:
    added = run(gateway_cli, "users", "add", "ouaka@example.org", "--role", "child_protection",
                "--places", "CF52", "--categories", "recruitment;abduction",
                "--focal-point", deployment.OUAKA_PHONE, "--password-stdin",
                stdin=f"{OWN_PASSWORD}\nnot read\n")
    assert added.exit_code == 0, added.output
    assert "one-time password" not in added.output
    admin = run(gateway_cli, "users", "add", "admin@example.org", "--role", "admin",
                "--places", "CF", "--password-stdin", stdin=OWN_PASSWORD + "\n")
    assert admin.exit_code == 0, admin.output
    _client, landed = log_in(desk_app, "ouaka@example.org", OWN_PASSWORD)
    assert landed == "/cases"
    with session_scope(desk_app) as db:
        db.add(RolePolicy(role=DeskRole.ADMIN, totp_required=True))
        db.commit()
    listed = run(gateway_cli, "users", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert [line.split()[0] for line in lines] == ["admin@example.org", "ouaka@example.org"]
    admin_line, ouaka_line = lines
    for expected in ("role: child_protection", "places: CF52",
                     "categories: recruitment;abduction", "focal point: Ouaka CP", "active",
                     "second factor: off", "last login: 20"):
        assert expected in ouaka_line, (expected, ouaka_line)
    for expected in ("role: admin", "places: CF", "categories: all", "focal point: -",
                     "second factor: off (required", "last login: never"):
        assert expected in admin_line, (expected, admin_line)
    assert "argon2" not in listed.output and OWN_PASSWORD not in listed.output


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["nobody", "--role", "coordinator", "--places", "CF"], None, "not an e-mail address"),
    (["a@example.org", "--role", "boss", "--places", "CF"], None, "unknown role 'boss'"),
    (["a@example.org", "--role", "coordinator", "--places", "CF52;XX9"], None,
     "unknown p-code(s): XX9"),
    (["a@example.org", "--role", "coordinator", "--places", "CF", "--categories", "gossip"],
     None, "unknown categor(ies): gossip"),
    (["a@example.org", "--role", "coordinator", "--places", "CF", "--focal-point",
      "+23670009999"], None, "no focal point has this phone number"),
    (["a@example.org", "--role", "coordinator", "--places", "CF", "--password-stdin"],
     "short\n", "at least 12 characters"),
])
def test_add_refuses_with_one_line_and_exit_1(
    desk_app: Flask, gateway_cli: click.Group, args: list[str], stdin: str | None, message: str,
) -> None:
    refused = run(gateway_cli, "users", "add", *args, stdin=stdin)
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [refused.output.strip()]
    assert message in refused.output
    with session_scope(desk_app) as db:
        assert find_user(db, "a@example.org") is None


def test_the_same_address_twice_is_refused(gateway_cli: click.Group) -> None:
    first = run(gateway_cli, "users", "add", "a@example.org", "--role", "triage",
                "--places", "CF")
    assert first.exit_code == 0, first.output
    again = run(gateway_cli, "users", "add", "A@example.org", "--role", "triage",
                "--places", "CF")
    assert again.exit_code == 1 and "a user a@example.org exists already" in again.output


def test_disable_ends_the_users_live_session_and_refuses_their_password(
    desk_app: Flask, gateway_cli: click.Group,
) -> None:
    added = run(gateway_cli, "users", "add", "cp@example.org", "--role", "child_protection",
                "--places", "CF52", "--password-stdin", stdin=OWN_PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    browser, landed = log_in(desk_app, "cp@example.org", OWN_PASSWORD)
    assert landed == "/cases" and browser.get("/password").status_code == 200
    disabled = run(gateway_cli, "users", "disable", "CP@example.org")
    assert disabled.exit_code == 0, disabled.output
    assert "disabled cp@example.org" in disabled.output
    over = browser.get("/password")
    assert over.status_code == 302 and over.location.startswith("/login")
    assert log_in(desk_app, "cp@example.org", OWN_PASSWORD)[1] is None
    assert "disabled" in run(gateway_cli, "users", "list").output
    assert "was disabled already" in run(gateway_cli, "users", "disable",
                                         "cp@example.org").output
    unknown = run(gateway_cli, "users", "disable", "nobody@example.org")
    assert unknown.exit_code == 1 and "no user nobody@example.org" in unknown.output
