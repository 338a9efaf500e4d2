"""Escalation: a case nobody acknowledges goes to the backups, then further up.

An urgent case not acknowledged within 30 minutes (sexual violence within 72 hours: 1 hour), any
other within 24 hours, goes at stage 1 to the backups of those who received it, and one delay
later at stage 2 to the coordinator of the area. A complaint never leaves the `conduct` role: its
stage 2 is the conduct focal points of the next level up. A focal point whose SMS failed counts as
not reached: the next stage starts at once.

Timers are RQ scheduled jobs, one id per (case, stage); the stage itself is claimed in the
database (cases.escalation_stage), so a duplicate job, a restart or a race escalates once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.cases import recent_sexual_violence
from gateway.models import (
    Case,
    CaseEvent,
    CaseKind,
    FocalPoint,
    Level,
    OutboxMessage,
    Role,
)
from gateway.routing import coverers, roles_for

log = logging.getLogger(__name__)

ESCALATE_JOB = "workers.escalation.escalate_case"
LAST_STAGE = 2
# Seconds before escalating: "urgent", "default" (not urgent), "pep" (sexual violence within
# 72 hours), or per category: "<category>" and "<category>:urgent" (GATEWAY_ESCALATION_DELAYS).
DEFAULT_DELAYS: dict[str, float] = {"urgent": 1800.0, "default": 86400.0, "pep": 3600.0}


def escalation_job_id(case_id: int, stage: int, now: bool = False) -> str:
    """Return the job id of a case's escalation stage (now: started by a failed delivery)."""
    return f"escalate-{case_id}-{stage}" + ("-now" if now else "")


def delay_for(case: Case, delays: Mapping[str, float] | None = None) -> float:
    """Return the seconds a case may wait for an acknowledgement before it is escalated."""
    table = {**DEFAULT_DELAYS, **(delays or {})}
    if recent_sexual_violence(case.category, case.answers):
        return table["pep"]
    if case.is_urgent:
        return table.get(f"{case.category}:urgent", table["urgent"])
    return table.get(case.category, table["default"])


def _queue(app: Flask | None = None):  # noqa: ANN202 - an RQ Queue
    from workers.queues import URGENT, get_queue

    return get_queue(URGENT, app)


def schedule_escalation(
    case_id: int, stage: int, app: Flask | None = None, *, delay: float | None = None
) -> bool:
    """Put a case's escalation stage on RQ's scheduler; False when Redis refuses it."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    from gateway.db import session_scope

    if delay is None:
        with session_scope(app) as session:
            case = session.get(Case, case_id)
            if case is None:
                return False
            delay = delay_for(case, app.config.get("ESCALATION_DELAYS"))
    try:
        _queue(app).enqueue_in(
            timedelta(seconds=delay), ESCALATE_JOB, args=(case_id, stage),
            job_id=escalation_job_id(case_id, stage), result_ttl=600,
        )
    except RedisError as exc:
        log.warning("case %s escalation %s not scheduled: %s", case_id, stage,
                    type(exc).__name__)
        return False
    return True


def escalate_soon(case_id: int, stage: int, app: Flask | None = None) -> bool:
    """Run a case's next escalation stage now (a focal point was not reached)."""
    if stage > LAST_STAGE:
        return False
    try:
        _queue(app).enqueue(
            ESCALATE_JOB, args=(case_id, stage),
            job_id=escalation_job_id(case_id, stage, now=True), result_ttl=600,
        )
    except RedisError as exc:
        log.warning("case %s escalation not queued: %s", case_id, type(exc).__name__)
        return False
    return True


def _unnotified(points: list[FocalPoint], notified: set[int]) -> list[FocalPoint]:
    return [fp for fp in points if fp.id not in notified]


def _next_level(levels: dict[int, list[FocalPoint]], notified: set[int]) -> list[FocalPoint]:
    """Return the nearest level's focal points not yet notified, primaries first."""
    for points in levels.values():
        fresh = _unnotified(points, notified)
        if fresh:
            primaries = [fp for fp in fresh if fp.level == Level.PRIMARY]
            return primaries or fresh
    return []


def stage_recipients(
    session: Session, case: Case, stage: int, notified: set[int]
) -> list[FocalPoint]:
    """Return who a stage adds: 1 the backups, 2 the area's coordinator (complaints: above)."""
    chosen: list[FocalPoint] = []
    for role in roles_for(case):
        levels = coverers(session, case, role)
        if stage == 1:
            nearest = next((points for points in levels.values() if points), [])
            chosen += _unnotified(nearest, notified)
        elif case.kind == CaseKind.COMPLAINT:
            # Restricted: a complaint goes up its own role, never to coordinators.
            chosen += _next_level(levels, notified)
    if stage == LAST_STAGE and case.kind != CaseKind.COMPLAINT:
        chosen += _next_level(coverers(session, case, Role.COORDINATOR), notified)
    unique: list[FocalPoint] = []
    for fp in chosen:
        if fp not in unique:
            unique.append(fp)
    return unique


def _claim(session: Session, case_id: int, stage: int) -> bool:
    """Move the case to the stage, unless acknowledged, closed or already there."""
    claimed = session.execute(
        update(Case)
        .where(
            Case.id == case_id,
            Case.escalation_stage == stage - 1,
            Case.acknowledged_at.is_(None),
            Case.closed_at.is_(None),
        )
        .values(escalation_stage=stage)
        .execution_options(synchronize_session=False)
    ).rowcount
    return claimed == 1


def run_stage(session: Session, case_id: int, stage: int) -> tuple[list[int], int | None]:
    """Escalate a case from `stage` on; return the outbox ids to send and the next stage."""
    while stage <= LAST_STAGE:
        if not _claim(session, case_id, stage):
            session.rollback()
            return [], None
        case = session.get(Case, case_id)
        assert case is not None
        session.refresh(case)
        notified = {
            fp_id for fp_id in session.scalars(
                select(OutboxMessage.focal_point_id).where(OutboxMessage.case_id == case_id)
            ) if fp_id is not None
        }
        recipients = stage_recipients(session, case, stage, notified)
        if recipients:
            rows = [
                OutboxMessage(case_id=case_id, focal_point_id=fp.id,
                              purpose=f"escalation_{stage}", urgent=True)
                for fp in recipients
            ]
            session.add_all(rows)
            session.add(CaseEvent(case_id=case_id, kind="escalated", detail={
                "stage": stage, "focal_point_ids": [fp.id for fp in recipients],
            }))
            session.commit()
            return [row.id for row in rows], stage + 1 if stage < LAST_STAGE else None
        session.add(CaseEvent(case_id=case_id, kind="escalation_skipped",
                              detail={"stage": stage, "reason": "nobody to escalate to"}))
        session.commit()
        stage += 1
    return [], None


def next_stage(session: Session, case_id: int) -> int | None:
    """Return the stage a failed delivery should start now, None when nothing is left."""
    case = session.get(Case, case_id)
    if case is None or case.acknowledged_at is not None or case.closed_at is not None:
        return None
    stage = case.escalation_stage + 1
    return stage if stage <= LAST_STAGE else None
