"""Africa's Talking times out and answers errors for a while: retries, then one SMS."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask, Request, Response
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import OutboxMessage, OutboxStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_ussd import reference_in, walk_alert

pytestmark = pytest.mark.faults


def time_out(request: Request) -> Response:
    # Longer than the SDK's read timeout (9.05 s): the worker gives up; the provider drops it.
    time.sleep(9.6)
    return StandInAPI.fail_http(504)(request)


def test_timeouts_and_errors_are_retried_until_the_provider_takes_it_once(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   SEND_RETRY_DELAYS=[0.0, 0.0, 0.0, 0.0, 0.0])
    deployment.standard(app)
    reference = reference_in(walk_alert(Caller(app.test_client())))
    at_api.script.extend([
        StandInAPI.fail_http(500),
        time_out,
        StandInAPI.reject(500, "InternalServerError"),
        StandInAPI.fail_http(502),
    ])

    run_jobs(app)

    assert len(at_api.messages) == 5  # four failures, then the one the provider took
    assert all(reference in m["form"]["message"] for m in at_api.messages)
    with session_scope(app) as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status == OutboxStatus.SENT
        assert row.attempts == 5
        assert row.provider_message_id
    run_jobs(app)
    assert len(at_api.messages) == 5  # nothing goes out again
