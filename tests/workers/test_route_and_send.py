"""One job per case: the door's routing job routes a case and sends its SMS itself.

Every guarantee of a send job of its own still holds for each message: sent once, a failed
send retried alone (as a send job), the channel's pace kept through Redis, urgent cases first.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

from gateway.delivery.throttle import get_throttle
from gateway.storage.models import OutboxStatus
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.faults.processes import wait_for
from tests.test_complaints import move_time
from tests.workers.factories import add_case, add_focal_point, add_places, outbox, work
from tests.workers.test_workers_sending import release_scheduled
from workers import queues
from workers.enqueue import enqueue_route, route_job_id, send_job_id

NUMBERS = ["+23670000001", "+23670000002", "+23670000003"]


def _ouaka(app: Flask, count: int) -> list[int]:
    add_places(app)
    return [add_focal_point(app, f"Ouaka {n}", NUMBERS[n], ["CF52"]) for n in range(count)]


def _jobs_run(app: Flask) -> list[str]:
    connection = app.extensions["redis"]
    return sorted(job_id for name in queues.ALL
                  for job_id in FinishedJobRegistry(name, connection=connection).get_job_ids())


def _scheduled(app: Flask) -> list[str]:
    """The sends waiting on RQ's scheduler (escalation timers are not sends)."""
    connection = app.extensions["redis"]
    return sorted(job_id for name in queues.ALL
                  for job_id in ScheduledJobRegistry(name, connection=connection).get_job_ids()
                  if job_id.startswith("send-"))


def test_the_routing_job_sends_every_sms_of_its_case_once(
    app: Flask, at_api: StandInAPI
) -> None:
    _ouaka(app, 2)
    case_id = add_case(app, "CF521")
    assert enqueue_route(app, case_id, True)
    work(app)
    # One job ran: no send job of its own for either SMS.
    assert _jobs_run(app) == [route_job_id(case_id)]
    rows = outbox(app, case_id)
    assert [row.status for row in rows] == [OutboxStatus.SENT] * 2
    assert all(row.provider_message_id and row.sent_at for row in rows)
    assert sorted(m["form"]["to"] for m in at_api.messages) == NUMBERS[:2]
    # The job again (the sweep, a retry): nothing more goes out.
    assert enqueue_route(app, case_id, True)
    work(app)
    assert len(at_api.messages) == 2


def test_a_failed_send_is_retried_alone_the_others_go_out(
    app: Flask, at_api: StandInAPI
) -> None:
    _ouaka(app, 2)
    case_id = add_case(app, "CF521")
    at_api.script.append(StandInAPI.fail_http(500))  # the first SMS: the provider fails
    assert enqueue_route(app, case_id, True)
    work(app)
    first, second = outbox(app, case_id)
    assert first.status == OutboxStatus.RETRYING and second.status == OutboxStatus.SENT
    assert _scheduled(app) == [send_job_id(first.id, 1)]  # a send job of its own

    move_time(app, 1)  # its delay (a second) has passed: no wall-clock race under load
    work(app)
    first, second = outbox(app, case_id)
    assert first.status == OutboxStatus.SENT and first.attempts == 2
    assert second.attempts == 1
    accepted = [m["form"]["to"] for m in at_api.messages][1:]  # the first answer was a 500
    assert sorted(accepted) == NUMBERS[:2]


def test_the_routing_job_keeps_the_channels_pace(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    # One segment a second: each send sleeps until its instant (a second at most).
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   SMS_SEGMENTS_PER_SECOND=1)
    _ouaka(app, 3)
    case_id = add_case(app, "CF521")
    assert enqueue_route(app, case_id, True)
    work(app)

    def all_sent() -> bool:  # on a slow machine the last may go past the job's budget
        release_scheduled(app)
        work(app)
        return [row.status for row in outbox(app, case_id)] == [OutboxStatus.SENT] * 3

    wait_for(all_sent, timeout=30, every=0.2)
    sent = [m["at"] for m in at_api.messages]
    assert len(sent) == 3 and all(b - a >= 0.8 for a, b in zip(sent, sent[1:], strict=False))
    first = outbox(app, case_id)[0]
    assert not [job for job in _jobs_run(app)
                if job == send_job_id(first.id) or job.startswith(f"send-{first.id}-")]


def test_a_send_whose_turn_is_far_off_waits_as_a_send_job_of_its_own(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   SMS_SEGMENTS_PER_SECOND=1)
    _ouaka(app, 1)
    case_id = add_case(app, "CF521")
    # Other workers took the channel's next three seconds: the routing job does not wait.
    assert get_throttle(app).reserve(3, urgent=True).sleep == 0
    assert enqueue_route(app, case_id, True)
    work(app)
    [row] = outbox(app, case_id)
    assert row.status == OutboxStatus.QUEUED and not at_api.messages
    assert _scheduled(app) == [f"{send_job_id(row.id)}-w1"]

    def sent() -> bool:
        release_scheduled(app)
        work(app)
        return outbox(app, case_id)[0].status == OutboxStatus.SENT

    wait_for(sent, timeout=30, every=0.2)
    assert [m["form"]["to"] for m in at_api.messages] == NUMBERS[:1]


def test_an_urgent_cases_sms_goes_before_an_ordinary_one_queued_earlier(
    app: Flask, at_api: StandInAPI
) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", NUMBERS[0], ["CF52"])
    add_focal_point(app, "Haute-Kotto", NUMBERS[1], ["CF61"])
    ordinary = add_case(app, "CF611", urgent=None)
    urgent = add_case(app, "CF521", urgent=True)
    assert enqueue_route(app, ordinary, False)
    assert enqueue_route(app, urgent, True)
    work(app)
    assert [m["form"]["to"] for m in at_api.messages] == [NUMBERS[0], NUMBERS[1]]
