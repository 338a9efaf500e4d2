"""`gateway audit`: each view and action on the desk, newest first, by case or by user."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask

from gateway.commands import audit
from tests.conftest import TEST_SECRET
from tests.desk.conftest import UserFactory, csrf_of, login
from tests.desk.test_cases import CaseMaker, add_case  # noqa: F401 - a fixture

CP = "cp.ouaka@example.org"
OTHER = "cp.ippy@example.org"


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The audit command, its settings pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=audit.COMMANDS)


def lines(group: click.Group, *args: str) -> list[str]:
    result = CliRunner().invoke(group, ["audit", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_audit_prints_views_and_actions_newest_first_by_case_and_user(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker,  # noqa: F811
    gateway_cli: click.Group,
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(OTHER, "child_protection", ["CF522"])
    first = add_case("CF521")
    second = add_case("CF522")
    client = desk_app.test_client()
    login(client, CP)
    page = client.get(f"/cases/{first}").get_data(as_text=True)
    client.post(f"/cases/{first}/note", data={"note": "Seen the school.",
                                              "csrf_token": csrf_of(page)},
                follow_redirects=True)
    client.get(f"/cases/{second}")
    other = desk_app.test_client()
    login(other, OTHER)
    other.get(f"/cases/{second}")

    of_first = lines(gateway_cli, "--case", first)
    assert [line.split()[3:6] for line in of_first] == [
        [CP, first, "view"],  # the page again, after the note
        [CP, first, "note"],
        [CP, first, "view"],
    ]
    assert of_first[1].endswith("changed=true")
    assert "Seen the school" not in "\n".join(of_first)  # a note's words are never audited
    assert of_first[0].split()[2] == "UTC"
    by_other = lines(gateway_cli, "--user", OTHER.upper())
    assert [line.split()[3:6] for line in by_other if line.split()[4] != "-"] == [
        [OTHER, second, "view"]]
    newest = lines(gateway_cli, "--case", second, "--limit", "1")
    assert [line.split()[3:6] for line in newest] == [[OTHER, second, "view"]]
    assert lines(gateway_cli, "--case", "1234567") == ["no audit rows"]
    refused = CliRunner().invoke(gateway_cli, ["audit", "--limit", "0"])
    assert refused.exit_code != 0
