"""Jobs go on the right queue with ids only; a refusal by Redis leaves the case to the sweep."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from gateway.storage.models import CaseStatus
from tests.workers.factories import (
    add_case,
    add_focal_point,
    add_places,
    case_of,
    closed_port_redis,
    outbox,
)
from workers import queues
from workers.enqueue import enqueue_route, enqueue_send, send_job_id
from workers.routing import route_case

JOB_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def test_urgent_cases_go_on_the_urgent_queue(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000011", ["CF52"])
    urgent = add_case(app, "CF521", urgent=True)
    ordinary = add_case(app, "CF521", urgent=None)
    assert enqueue_route(app, urgent, True)
    assert enqueue_route(app, ordinary, False)
    urgent_queue = app.extensions["queues"][queues.URGENT]
    default_queue = app.extensions["queues"][queues.DEFAULT]
    assert urgent_queue.job_ids == [f"route-{urgent}"]
    assert default_queue.job_ids == [f"route-{ordinary}"]

    # Their SMS follow them.
    with app.app_context():
        route_case(urgent)
        route_case(ordinary)
    [urgent_row] = outbox(app, urgent)
    [ordinary_row] = outbox(app, ordinary)
    assert urgent_row.urgent and not ordinary_row.urgent
    assert f"send-{urgent_row.id}" in urgent_queue.job_ids
    assert f"send-{ordinary_row.id}" in default_queue.job_ids
    for job_id in urgent_queue.job_ids + default_queue.job_ids:
        assert JOB_ID.match(job_id)
        job = Job.fetch(job_id, connection=app.extensions["redis"])
        assert all(isinstance(arg, int) for arg in job.args) and job.kwargs == {}


def test_a_retry_is_scheduled_with_its_own_id(app: Flask) -> None:
    assert enqueue_send(app, 7, True, delay=30, attempt=2)
    registry = ScheduledJobRegistry(queues.URGENT, connection=app.extensions["redis"])
    assert registry.get_job_ids() == ["send-7-2"]
    assert send_job_id(7) == "send-7" and JOB_ID.match(send_job_id(7, 3))


def test_redis_refusing_leaves_the_case_new_and_says_so(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    healthy = make_app()
    add_places(healthy)
    case_id = add_case(healthy, "CF521")
    app = make_app(redis=closed_port_redis())
    assert enqueue_route(app, case_id, True) is False
    assert enqueue_send(app, 1, False) is False
    assert enqueue_send(app, 1, False, delay=10, attempt=1) is False
    assert case_of(healthy, case_id).status == CaseStatus.NEW
    assert f"case {case_id} not queued for routing: ConnectionError" in caplog.text
    assert "outbox 1 not queued for sending: ConnectionError" in caplog.text
