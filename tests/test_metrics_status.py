"""The metrics and `gateway cases list` tell the same status: an acknowledged case is not routed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.cases.status import DisplayStatus, status_expression, status_of
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseKind, CaseStatus, Channel, utcnow
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_acknowledgement import phone_of
from tests.test_cases_cli import gateway_cli, run  # noqa: F401 - a fixture
from tests.test_complaints import case_by, with_conduct
from tests.test_follow_up import report
from tests.test_health import METRICS_TOKEN, metric


@pytest.fixture
def app(make_app: Callable[..., Flask], at_api: StandInAPI) -> Flask:
    """An app whose metrics can be scraped and whose SMS go to the local stand-in."""
    return make_app(METRICS_TOKEN=METRICS_TOKEN, AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
                    AT_API_URL=at_api.url, AT_SENDER_ID="ALERTS")


def test_an_acknowledged_case_is_acknowledged_in_the_metrics_and_the_cli(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,  # noqa: F811
) -> None:
    def scrape() -> str:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    with_conduct(app)
    reference = report(client, sms_later=False)
    run_jobs()
    assert metric(scrape(), "gateway_cases", kind="alert", status="routed") == 1

    ouaka = phone_of(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    ouaka.seen = 1
    assert ouaka.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    case = case_by(app, reference)
    assert status_of(case) is DisplayStatus.ACKNOWLEDGED

    scraped = scrape()
    assert metric(scraped, "gateway_cases", kind="alert", status="acknowledged") == 1
    assert metric(scraped, "gateway_cases", kind="alert", status="routed") in (None, 0)
    listed = run(gateway_cli, "cases", "list")
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.output.splitlines() if line.startswith(reference)]
    assert line.split()[3] == "acknowledged"

    ouaka.command(f"DONE {reference}")
    scraped = scrape()
    assert metric(scraped, "gateway_cases", kind="alert", status="closed") == 1
    assert metric(scraped, "gateway_cases", kind="alert", status="acknowledged") in (None, 0)
    [line] = [line for line in run(gateway_cli, "cases", "list").output.splitlines()
              if line.startswith(reference)]
    assert line.split()[3] == "closed"


def test_status_of_and_its_sql_expression_agree(app: Flask) -> None:
    now = utcnow()
    shapes = [
        (CaseStatus.NEW, None, None),
        (CaseStatus.ROUTED, None, None),
        (CaseStatus.UNASSIGNED, None, None),
        (CaseStatus.ROUTED, now, None),
        (CaseStatus.ROUTED, now, now + timedelta(hours=1)),
        (CaseStatus.UNASSIGNED, None, now),
    ]
    with session_scope(app) as session:
        for number, (status, acknowledged, closed) in enumerate(shapes):
            session.add(Case(
                reference=f"90000{number:02d}", kind=CaseKind.ALERT, channel=Channel.USSD,
                status=status, category="other", language="en",
                acknowledged_at=acknowledged, closed_at=closed,
            ))
        session.commit()
        rows = session.execute(select(Case, status_expression()).order_by(Case.id)).all()
        assert [str(sql) for _, sql in rows] == [status_of(case).value for case, _ in rows]
        assert [str(sql) for _, sql in rows] == [
            "new", "routed", "unassigned", "acknowledged", "closed", "closed",
        ]
