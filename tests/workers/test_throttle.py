"""The send rate: a burst is paced in segments per second across worker processes, urgent first."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from redis import Redis
from rq import Worker

from gateway.cases.outbox import queue_reporter_message
from gateway.delivery.throttle import SendThrottle
from gateway.storage.db import session_scope
from gateway.storage.models import OutboxStatus
from tests.conftest import StandInAPI
from tests.faults.processes import Processes, gateway_env, processes, wait_for  # noqa: F401
from tests.workers.factories import outbox
from workers.enqueue import enqueue_sends

RATE = 5  # segments per second


def test_reservations_follow_the_rate_and_urgent_goes_first(redis_connection: Redis) -> None:
    redis_connection.flushdb()
    throttle = SendThrottle(redis_connection, RATE, channel="test")
    # One second's worth goes at once (each sleeps until its instant), then a place in line.
    sleeps = [throttle.reserve(1, urgent=False).sleep for _ in range(6)]
    assert [round(s, 1) for s in sleeps] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    late = throttle.reserve(3, urgent=False)  # three segments: three fifths of a second
    assert late.later is not None and late.slot is not None
    after = throttle.reserve(1, urgent=False)
    assert after.slot is not None and round(after.slot - late.slot, 1) == 0.6
    # An urgent send queued after them gets the first free instant: theirs are pushed back.
    urgent = throttle.reserve(1, urgent=True)
    assert urgent.slot is not None and urgent.slot <= late.slot
    # And while it waits, nothing else takes the timeline.
    time.sleep(1.0)
    assert throttle.reserve(1, urgent=False).later is not None
    redis_connection.flushdb()


def test_no_limit_when_the_rate_is_zero(redis_connection: Redis) -> None:
    throttle = SendThrottle(redis_connection, 0, channel="test")
    assert all(throttle.reserve(1, urgent=False).sleep == 0 for _ in range(50))


def _queue(app: Flask, numbers: list[str], urgent: bool) -> None:
    with app.app_context(), session_scope(app) as session:
        rows = [
            queue_reporter_message(
                app, session, number=number, text="Merci, message recu.", language="fr",
                purpose="reporter_reply", dedupe_key=f"pace-{number}", case_id=None,
                urgent=urgent,
            )
            for number in numbers
        ]
        session.commit()
        sends = [(row.id, row.urgent) for row in rows if row is not None]
        assert enqueue_sends(app, sends) == len(numbers)


def _workers(
    app: Flask, processes: Processes, schema: str, redis: Redis, data_dir: Path, url: str  # noqa: F811
) -> None:
    env = gateway_env(schema, redis, data_dir, url, GATEWAY_SMS_SEGMENTS_PER_SECOND=str(RATE))
    for _ in range(2):
        processes.worker(env)
    wait_for(lambda: len(Worker.all(connection=redis)) >= 2, timeout=30)


def _busiest_second(times: list[float]) -> int:
    """Return the most sends that reached the stand-in within any one second."""
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def _paced(times: list[float]) -> None:
    # The instants are reserved 1/RATE apart; the HTTP round trips add some jitter (tens of
    # milliseconds), which may bring one more into a second, never a burst.
    busiest, mean = _busiest_second(times), (len(times) - 1) / (times[-1] - times[0])
    print(f"{len(times)} sends: busiest second {busiest}, mean {mean:.2f}/s")
    assert busiest <= RATE + 1, times
    assert mean <= RATE * 1.05, times


def test_a_burst_is_paced_across_worker_processes(
    make_app: Callable[..., Flask], at_api: StandInAPI, processes: Processes,  # noqa: F811
    schema: str, redis_connection: Redis, data_dir: Path,
) -> None:
    app = make_app()
    _workers(app, processes, schema, redis_connection, data_dir, at_api.url)
    numbers = [f"+2367100{i:04d}" for i in range(20)]
    started = time.monotonic()
    _queue(app, numbers, urgent=False)
    wait_for(lambda: len(at_api.messages) >= 20, timeout=60)
    times = sorted(m["at"] for m in at_api.messages)
    assert sorted(m["form"]["to"] for m in at_api.messages) == numbers  # each once
    _paced(times)
    # And not much slower: 19 gaps of 0.2 s, plus the scheduler's one-second ticks.
    assert times[-1] - times[0] < 19 / RATE + 3.0, times[-1] - times[0]
    assert times[0] - started < 5.0
    wait_for(lambda: all(row.status == OutboxStatus.SENT for row in outbox(app)), timeout=10)
    assert all(row.segments == 1 and row.recipient is None for row in outbox(app))


def test_urgent_messages_queued_after_a_burst_go_out_first(
    make_app: Callable[..., Flask], at_api: StandInAPI, processes: Processes,  # noqa: F811
    schema: str, redis_connection: Redis, data_dir: Path,
) -> None:
    app = make_app()
    _workers(app, processes, schema, redis_connection, data_dir, at_api.url)
    ordinary = [f"+2367200{i:04d}" for i in range(20)]
    urgent = [f"+2367300{i:04d}" for i in range(3)]
    _queue(app, ordinary, urgent=False)
    wait_for(lambda: len(at_api.messages) >= 1, timeout=30)  # the burst is under way
    _queue(app, urgent, urgent=True)
    wait_for(lambda: len(at_api.messages) >= 23, timeout=60)
    order = [m["form"]["to"] for m in sorted(at_api.messages, key=lambda m: m["at"])]
    last_urgent = max(order.index(number) for number in urgent)
    print(f"urgent sent at places {sorted(order.index(number) for number in urgent)}")
    # Only the ordinary sends already given their instant (a second's worth) go before them.
    assert last_urgent <= RATE + 1 + len(urgent), order
    assert len(order) - 1 - last_urgent >= 10  # most of the burst waited for them
    _paced(sorted(m["at"] for m in at_api.messages))
