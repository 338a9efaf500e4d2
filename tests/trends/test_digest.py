"""The weekly digest: one SMS per active coordinator and week, through the AT stand-in, with the
counts of their own area only: no reference, no complaint, never twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    FocalPoint,
    Gender,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    Role,
    utcnow,
)
from gateway.trends.digest import Counts, compose, count, due_week, queue_due
from tests import deployment
from tests.conftest import StandInAPI
from tests.trends.test_trends import add_case
from workers import queues
from workers.enqueue import DIGEST_LOCK, digest_job_id, enqueue_sends, schedule_digests

OUAKA_COORDINATOR = "+23670000301"
NATIONAL_COORDINATOR = "+23670000302"
# A Wednesday: the digest moment was Monday 2026-01-19 07:00 UTC (ISO week 4), so the week told
# of runs from Monday 2026-01-12 07:00 to then.
NOW = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)


def day(number: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, number, hour, 0, tzinfo=UTC)


def escalate(app: Flask, case_id: int, at: datetime) -> None:
    with session_scope(app) as session:
        session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.ESCALATED,
                              detail={"stage": 1}, created_at=at))
        session.commit()


@pytest.fixture
def coordinators(app: Flask) -> dict[str, int]:
    """The standard deployment, a coordinator for Ouaka (English), one for the country
    (French), and one deactivated; the digest at its defaults (Monday, 07:00 UTC)."""
    deployment.standard(app)
    return {
        "ouaka": deployment.add_focal_point(app, "Ouaka coordinator", OUAKA_COORDINATOR,
                                            ["CF52"], role=Role.COORDINATOR),
        "national": deployment.add_focal_point(app, "National coordinator",
                                               NATIONAL_COORDINATOR, ["CF"],
                                               role=Role.COORDINATOR, languages=["fr"],
                                               gender=Gender.MALE),
        "gone": deployment.add_focal_point(app, "Former coordinator", "+23670000303",
                                           ["CF52"], role=Role.COORDINATOR, active=False),
    }


def the_week(app: Flask) -> None:
    """Alerts, a help request, complaints and a message to triage, in and around the week."""
    add_case(app, "CF521", created_at=day(13), acknowledged_after=timedelta(minutes=30))
    escalated = add_case(app, "CF522", created_at=day(14))
    escalate(app, escalated, day(15))
    add_case(app, "CF521", kind=CaseKind.HELP_REQUEST, created_at=day(18))
    # Received before the week, acknowledged in it; received before, still waiting.
    add_case(app, "CF521", created_at=day(5), acknowledged_after=timedelta(days=6, hours=20))
    add_case(app, "CF521", created_at=day(6))
    add_case(app, "CF521", created_at=day(20))  # after the digest moment: next week's
    add_case(app, "CF521", created_at=day(10), closed=True)
    for _ in range(3):  # complaints are never counted, even escalated
        complaint = add_case(app, "CF521", kind=CaseKind.COMPLAINT, created_at=day(15))
        escalate(app, complaint, day(16))
    add_case(app, "CF521", needs_triage=True, created_at=day(15))
    add_case(app, "CF611", created_at=day(15))  # Bria: the national coordinator's only
    add_case(app, None, created_at=day(16))  # no place: a top-level place's


def references(app: Flask) -> list[str]:
    with session_scope(app) as session:
        return list(session.scalars(select(Case.reference)))


def send(app: Flask, run_jobs: Callable[..., None], now: datetime) -> list[int]:
    """Do what the digest job does at `now`: queue the due digests, then send them."""
    queued = queue_due(app, now)
    enqueue_sends(app, ((outbox_id, False) for outbox_id in queued))
    run_jobs(app)
    return queued


def test_each_active_coordinator_gets_one_sms_with_their_area_s_counts_once_a_week(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
    coordinators: dict[str, int],
) -> None:
    the_week(app)
    assert send(app, run_jobs, day(19, 6)) == []  # Monday 06:00: not yet
    assert at_api.messages == []

    assert len(send(app, run_jobs, NOW)) == 2
    sent = {m["form"]["to"]: m["form"]["message"] for m in at_api.messages}
    assert set(sent) == {OUAKA_COORDINATOR, NATIONAL_COORDINATOR}  # not the one deactivated
    # Ouaka: new 3 (two alerts, a help request), acknowledged 2, escalated 1 (the complaints
    # escalated that week are not counted), waiting 3 (received before the moment, open).
    assert sent[OUAKA_COORDINATOR] == (
        "Week 2026-01-12 to 2026-01-19 in your area: 3 new cases, 2 acknowledged, 1 escalated; "
        "3 waiting now."
    )
    week = due_week(NOW, 1, 7)
    assert week is not None and week.label == "2026-W04"
    with session_scope(app) as session:
        national = session.get(FocalPoint, coordinators["national"])
        assert national is not None
        # The country: Bria's alert and the one with no place too.
        assert count(session, national, week) == Counts(new=5, acknowledged=2, escalated=1,
                                                        waiting=5)
    assert sent[NATIONAL_COORDINATOR] == compose(app, "fr", week, Counts(5, 2, 1, 5))
    for text in sent.values():
        assert all(reference not in text for reference in references(app))
        assert "recruitment" not in text and "Bambari" not in text
        assert len(text) <= 160

    with session_scope(app) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [(row.purpose, row.case_id, row.focal_point_id, row.dedupe_key, row.status)
                for row in rows] == [
            (OutboxPurpose.DIGEST, None, coordinators[name],
             f"digest-{coordinators[name]}-2026-W04", OutboxStatus.SENT)
            for name in ("ouaka", "national")
        ]

    # Again the same week (a restart, a second worker, the next hour): nothing more.
    assert send(app, run_jobs, NOW + timedelta(hours=1)) == []
    assert send(app, run_jobs, day(25, 23)) == []
    assert len(at_api.messages) == 2
    # The next week: the next digest.
    assert len(send(app, run_jobs, day(26, 7))) == 2
    assert len(at_api.messages) == 4


def test_the_scheduled_job_sends_the_digest_once_through_the_queues(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
    coordinators: dict[str, int],
) -> None:
    now = utcnow()
    app.config["DIGEST_DAY"], app.config["DIGEST_HOUR"] = now.isoweekday(), 0  # due today
    week = due_week(now, now.isoweekday(), 0)
    assert week is not None
    add_case(app, "CF521", created_at=week.start + timedelta(hours=1))
    stop = threading.Event()
    loop = threading.Thread(target=schedule_digests, args=(app, stop), daemon=True)
    loop.start()
    maintenance = app.extensions["queues"][queues.MAINTENANCE]
    deadline = time.monotonic() + 5
    while maintenance.count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=3)
    assert not loop.is_alive()
    assert maintenance.job_ids == [digest_job_id(now)]
    assert digest_job_id(now) == f"digest-{week.label}"
    assert app.extensions["redis"].exists(DIGEST_LOCK)  # the other workers' loops wait an hour
    run_jobs(app)
    texts = [m["form"]["message"] for m in at_api.messages
             if m["form"]["to"] == OUAKA_COORDINATOR]
    assert texts == [compose(app, "en", week, Counts(new=1, acknowledged=0, escalated=0,
                                                      waiting=1))]
    # The week's job run again (a retry, a restart): no second SMS.
    maintenance.enqueue("workers.digest.send_digests", job_id=digest_job_id(now))
    run_jobs(app)
    assert len(at_api.messages) == 2


@pytest.mark.parametrize(("now", "day_", "hour", "expected"), [
    (datetime(2026, 1, 19, 6, 59, tzinfo=UTC), 1, 7, None),
    (datetime(2026, 1, 19, 7, 0, tzinfo=UTC), 1, 7, ("2026-W04", day(12, 7), day(19, 7))),
    (datetime(2026, 1, 25, 23, 0, tzinfo=UTC), 1, 7, ("2026-W04", day(12, 7), day(19, 7))),
    (datetime(2026, 1, 22, 18, 0, tzinfo=UTC), 5, 18, None),  # Friday's not yet: Thursday
    (datetime(2026, 1, 23, 18, 0, tzinfo=UTC), 5, 18, ("2026-W04", day(16, 18), day(23, 18))),
    (datetime(2026, 1, 1, 9, 0, tzinfo=UTC), 4, 8, ("2026-W01", datetime(2025, 12, 25, 8,
                                                                         tzinfo=UTC),
                                                     day(1, 8))),
])
def test_the_week_told_of_ends_at_this_week_s_digest_moment(
    now: datetime, day_: int, hour: int, expected: tuple[str, datetime, datetime] | None,
) -> None:
    week = due_week(now, day_, hour)
    assert (week.label, week.start, week.end) == expected if week else expected is None
