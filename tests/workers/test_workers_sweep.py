"""The sweep queues again what the queues lost and closes sends that were cut off."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from rq.job import Job

from gateway.storage.models import CaseStatus, OutboxStatus, utcnow
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.workers.factories import (
    add_case,
    add_focal_point,
    add_outbox,
    add_places,
    case_of,
    closed_port_redis,
    outbox,
    work,
)
from workers import queues
from workers.enqueue import SWEEP_LOCK, enqueue_route, enqueue_send, schedule_sweeps
from workers.sweep import sweep


def ouaka(app: Flask) -> int:
    add_places(app)
    return add_focal_point(app, "Ouaka", "+23670000011", ["CF52"])


def run_sweep(app: Flask, **kwargs: float) -> dict[str, int]:
    with app.app_context():
        return sweep(**kwargs)


def minutes_ago(minutes: float) -> object:
    return utcnow() - timedelta(minutes=minutes)


def test_a_new_case_without_a_job_gets_routed(app: Flask, at_api: StandInAPI) -> None:
    ouaka(app)
    lost = add_case(app, "CF521", created_at=minutes_ago(1))  # type: ignore[arg-type]
    fresh = add_case(app, "CF521")  # its job may still be on its way: left to it

    counts = run_sweep(app)
    assert counts == {"cases": 1, "queued": 0, "retrying": 0, "interrupted": 0, "sms": 0,
                      "escalations": 0}
    assert run_sweep(app)["cases"] == 0  # its routing job is queued: not queued twice
    work(app)

    assert case_of(app, lost).status == CaseStatus.ROUTED
    assert case_of(app, fresh).status == CaseStatus.NEW
    [sms] = at_api.messages
    assert case_of(app, lost).reference in sms["form"]["message"]


def test_a_new_case_whose_job_is_queued_is_not_queued_again(app: Flask) -> None:
    ouaka(app)
    case_id = add_case(app, "CF521", created_at=minutes_ago(1))  # type: ignore[arg-type]
    assert enqueue_route(app, case_id, True)
    assert run_sweep(app)["cases"] == 0
    assert app.extensions["queues"][queues.URGENT].count == 1


def test_a_stuck_sending_row_is_sent_again(app: Flask, at_api: StandInAPI) -> None:
    focal_point_id = ouaka(app)
    case_id = add_case(app, "CF521", status=CaseStatus.ROUTED)
    stuck = add_outbox(
        app, case_id, focal_point_id, status=OutboxStatus.SENDING, attempts=1,
        updated_at=minutes_ago(11),  # type: ignore[arg-type]
    )
    other = add_case(app, "CF522", status=CaseStatus.ROUTED)
    busy = add_outbox(app, other, focal_point_id, status=OutboxStatus.SENDING, attempts=1)

    assert run_sweep(app)["interrupted"] == 1
    work(app)
    assert run_sweep(app)["interrupted"] == 0

    rows = {row.id: row for row in outbox(app)}
    assert rows[stuck].status == OutboxStatus.SENT
    assert rows[busy].status == OutboxStatus.SENDING  # still within its time
    assert len(at_api.messages) == 1
    [interrupted] = [e for e in case_of(app, case_id).events if e.kind == "sms_interrupted"]
    assert interrupted.detail["outbox_id"] == stuck


def test_a_queued_row_whose_job_is_lost_is_sent(app: Flask, at_api: StandInAPI) -> None:
    focal_point_id = ouaka(app)
    case_id = add_case(app, "CF521", status=CaseStatus.ROUTED)
    lost = add_outbox(app, case_id, focal_point_id, updated_at=minutes_ago(2))  # type: ignore[arg-type]
    other = add_case(app, "CF522", status=CaseStatus.ROUTED)
    waiting = add_outbox(app, other, focal_point_id, updated_at=minutes_ago(2))  # type: ignore[arg-type]
    assert enqueue_send(app, waiting, False)  # its job is there

    assert run_sweep(app)["queued"] == 1
    assert run_sweep(app)["queued"] == 0
    work(app)
    assert len(at_api.messages) == 2
    assert {row.id: row.status for row in outbox(app)} == {
        lost: OutboxStatus.SENT, waiting: OutboxStatus.SENT,
    }


def test_a_retrying_row_whose_retry_vanished_is_sent_once_due(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[60.0, 600.0],
    )
    focal_point_id = ouaka(app)
    case_id = add_case(app, "CF521", status=CaseStatus.ROUTED)
    due = add_outbox(
        app, case_id, focal_point_id, status=OutboxStatus.RETRYING, attempts=1,
        updated_at=minutes_ago(2),  # type: ignore[arg-type]
    )
    other = add_case(app, "CF522", status=CaseStatus.ROUTED)
    not_due = add_outbox(
        app, other, focal_point_id, status=OutboxStatus.RETRYING, attempts=2,
        updated_at=minutes_ago(2),  # type: ignore[arg-type]  # its delay is 10 minutes
    )

    assert run_sweep(app)["retrying"] == 1
    assert run_sweep(app)["retrying"] == 0  # its job is queued now
    assert Job.exists(f"send-{due}-1", connection=app.extensions["redis"])
    work(app)
    assert len(at_api.messages) == 1
    rows = {row.id: row for row in outbox(app)}
    assert rows[due].status == OutboxStatus.SENT and rows[due].attempts == 2
    assert rows[not_due].status == OutboxStatus.RETRYING


def test_a_scheduled_retry_is_left_to_the_scheduler(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[0.1],
    )
    focal_point_id = ouaka(app)
    case_id = add_case(app, "CF521", status=CaseStatus.ROUTED)
    row_id = add_outbox(
        app, case_id, focal_point_id, status=OutboxStatus.RETRYING, attempts=1,
        updated_at=minutes_ago(1),  # type: ignore[arg-type]
    )
    assert enqueue_send(app, row_id, False, delay=3600, attempt=1)
    assert run_sweep(app)["retrying"] == 0


def test_schedule_sweeps_queues_one_sweep_per_interval_and_stops(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SWEEP_INTERVAL=1)
    ouaka(app)
    case_id = add_case(app, "CF521", created_at=minutes_ago(1))  # type: ignore[arg-type]
    stop = threading.Event()
    # Two worker processes' loops: one sweep per interval between them.
    loops = [
        threading.Thread(target=schedule_sweeps, args=(app, stop), daemon=True) for _ in range(2)
    ]
    for loop in loops:
        loop.start()
    maintenance = app.extensions["queues"][queues.MAINTENANCE]
    deadline = time.monotonic() + 5
    while maintenance.count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert maintenance.count == 1
    [job_id] = maintenance.job_ids
    assert job_id.startswith("sweep-") and job_id[len("sweep-"):].isdigit()
    assert app.extensions["redis"].ttl(SWEEP_LOCK) <= 1

    started = time.monotonic()
    stop.set()
    for loop in loops:
        loop.join(timeout=3)
    assert not any(loop.is_alive() for loop in loops)
    assert time.monotonic() - started < 1.5

    work(app)  # the sweep job runs, then the routing it queued
    assert case_of(app, case_id).status == CaseStatus.ROUTED


def test_schedule_sweeps_survives_redis_being_down(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    app = make_app(SWEEP_INTERVAL=1, redis=closed_port_redis())
    stop = threading.Event()
    loop = threading.Thread(target=schedule_sweeps, args=(app, stop), daemon=True)
    loop.start()
    deadline = time.monotonic() + 8
    while caplog.text.count("Redis refused") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert loop.is_alive()  # it kept looping
    stop.set()
    loop.join(timeout=3)
    assert not loop.is_alive()
    assert caplog.text.count("sweep not scheduled, Redis refused: ConnectionError") >= 2


def test_missing_escalation_timers_are_set_again_from_the_database(
    app: Flask, at_api: StandInAPI
) -> None:
    from rq.registry import ScheduledJobRegistry
    from sqlalchemy import update as sql_update

    from gateway.storage.db import session_scope
    from gateway.storage.models import Case, CaseEvent, CaseEventKind
    from tests.deployment import OUAKA_BACKUP_PHONE, standard
    from workers.enqueue import escalation_job_id

    standard(app)
    due, waiting = (add_case(app, "CF521", status=CaseStatus.ROUTED) for _ in range(2))
    with session_scope(app) as session:
        for case_id, routed in ((due, minutes_ago(31)), (waiting, minutes_ago(1))):
            session.execute(sql_update(Case).where(Case.id == case_id).values(routed_at=routed))
            session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.ROUTED, detail={}))
        session.commit()

    assert run_sweep(app)["escalations"] == 2
    assert run_sweep(app)["escalations"] == 0  # their jobs are there now: not twice
    scheduled = ScheduledJobRegistry(queues.URGENT, connection=app.extensions["redis"])
    assert scheduled.get_job_ids() == [escalation_job_id(waiting, 1)]  # due in 29 minutes
    work(app)  # the due one escalates now, to the backup
    assert case_of(app, due).escalation_stage == 1
    assert case_of(app, waiting).escalation_stage == 0
    sent = [m["form"]["to"] for m in at_api.messages]  # its nearest level (no alert row here)
    assert OUAKA_BACKUP_PHONE in sent and len(set(sent)) == len(sent)


def test_a_started_job_whose_worker_is_gone_is_released_and_its_work_queued_again(
    app: Flask,
) -> None:
    from rq.executions import Execution
    from rq.job import JobStatus

    from workers.lifecycle import abandoned_jobs

    ouaka(app)
    case_id = add_case(app, "CF521")
    assert enqueue_route(app, case_id, True)
    queue = app.extensions["queues"][queues.URGENT]
    job = queue.dequeue_any([queue], None, connection=app.extensions["redis"])[0]
    with app.extensions["redis"].pipeline() as pipeline:  # a worker took it, then died
        job.prepare_for_execution("a-dead-worker", pipeline)
        Execution.create(job, 600, pipeline=pipeline, worker_name="a-dead-worker")
        pipeline.execute()
    assert run_sweep(app)["cases"] == 1  # young as it is: its worker died with it
    assert Job.fetch(job.id, connection=app.extensions["redis"]).get_status() == JobStatus.QUEUED
    assert abandoned_jobs(queues.all_queues(app)) == []
    work(app)
    assert case_of(app, case_id).status == CaseStatus.ROUTED
