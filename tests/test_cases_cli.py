"""`gateway cases list|show`: history with times, no reporter data; complaints restricted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from gateway.commands import cases
from tests import deployment
from tests.conftest import TEST_SECRET, StandInAPI
from tests.test_complaints import complain, with_conduct
from tests.test_follow_up import CALLER, report
from tests.test_sms import Phone
from tests.test_ussd import reference_in


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The cases commands, their settings pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=cases.COMMANDS)


def run(group: click.Group, *args: str) -> Result:
    return CliRunner().invoke(group, list(args))


def test_show_prints_the_history_and_list_hides_complaints_without_the_conduct_role(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    with_conduct(app)
    alert = report(client, sms_later=True)
    complaint = reference_in(complain(client, help_now="No", phone="+243970003333"))
    run_jobs()
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.command(f"OK {alert}")
    shown = run(gateway_cli, "cases", "show", alert)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"case {alert}: alert recruitment, acknowledged"
    assert "urgent: yes;" in lines[1]  # words, as before urgency became a bool
    events = [line.split(") ", 1)[1].split()[0] for line in lines if "(+" in line]
    assert events[:4] == ["created", "routed", "sms_sent", "acknowledged"]
    assert "acknowledged after:" in shown.output and "by=focal_point:" in shown.output
    for secret in (CALLER, CALLER.lstrip("+"), "pseudonym", "reporter_id", "details"):
        assert secret not in shown.output
    listed = run(gateway_cli, "cases", "list").output
    assert alert in listed and complaint not in listed
    assert complaint in run(gateway_cli, "cases", "list", "--role", "conduct").output
    refused = run(gateway_cli, "cases", "show", complaint)
    assert refused.exit_code == 1 and f"no case {complaint}" in refused.output
    assert run(gateway_cli, "cases", "show", complaint, "--role", "child_protection").exit_code == 1
    allowed = run(gateway_cli, "cases", "show", complaint, "--role", "conduct")
    assert allowed.exit_code == 0 and "answers: child=yes" in allowed.output
