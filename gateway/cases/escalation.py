"""Escalation: a case nobody acknowledges goes to the backups, then further up.

An urgent case not acknowledged within 30 minutes (sexual violence within 72 hours: 1 hour), any
other within 24 hours, goes at stage 1 to the backups of those who received it, and one delay
later at stage 2 to the coordinator of the area. A complaint never leaves the `conduct` role: its
stage 2 is the conduct focal points of the next level up; a case to triage (a sender's own words,
maybe a complaint) likewise stays in the `triage` role. A focal point whose SMS failed counts as
not reached: the next stage starts at once.

Timers are scheduled jobs (workers.enqueue), one id per (case, stage); the stage itself is
claimed in the database (cases.escalation_stage), so a duplicate job, a restart or a race
escalates once. A timer Redis refused, or lost, is set again by the sweep from the database
(`awaiting`, `due_at`; workers/sweep.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from gateway.cases.intake import recent_sexual_violence
from gateway.cases.routing import levels_covering, roles_for
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    FocalPoint,
    Level,
    OutboxMessage,
    OutboxPurpose,
    Role,
    aware,
)

log = logging.getLogger(__name__)

LAST_STAGE = 2
# Seconds before escalating: "urgent", "default" (not urgent), "pep" (sexual violence within
# 72 hours), or per category: "<category>" and "<category>:urgent" (GATEWAY_ESCALATION_DELAYS).
DEFAULT_DELAYS: dict[str, float] = {"urgent": 1800.0, "default": 86400.0, "pep": 3600.0}


def delay_for(case: Case, delays: Mapping[str, float] | None = None) -> float:
    """Return the seconds a case may wait for an acknowledgement before it is escalated."""
    table = {**DEFAULT_DELAYS, **(delays or {})}
    if recent_sexual_violence(case.category, case.answers):
        return table["pep"]
    if case.is_urgent:
        return table.get(f"{case.category}:urgent", table["urgent"])
    return table.get(case.category, table["default"])


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


def _restricted(case: Case) -> bool:
    """Tell whether a case escalates only within its own role: complaints, cases to triage."""
    return case.kind == CaseKind.COMPLAINT or case.needs_triage


def stage_recipients(
    session: Session, case: Case, stage: int, notified: set[int]
) -> list[FocalPoint]:
    """Return who a stage adds: 1 the backups, 2 the area's coordinator (restricted: above)."""
    chosen: list[FocalPoint] = []
    for role in roles_for(case):
        levels = levels_covering(session, case, role)
        if stage == 1:
            nearest = next((points for points in levels.values() if points), [])
            chosen += _unnotified(nearest, notified)
        elif _restricted(case):
            # A complaint or a case to triage goes up its own role, never to coordinators.
            chosen += _next_level(levels, notified)
    if stage == LAST_STAGE and not _restricted(case):
        chosen += _next_level(levels_covering(session, case, Role.COORDINATOR), notified)
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
                select(OutboxMessage.focal_point_id).where(
                    OutboxMessage.case_id == case_id,
                    # A warning about unconfirmed commands carried no case: still to escalate to.
                    OutboxMessage.purpose != OutboxPurpose.COMMAND_ALERT,
                )
            ) if fp_id is not None
        }
        recipients = stage_recipients(session, case, stage, notified)
        if recipients:
            rows = [
                OutboxMessage(case_id=case_id, focal_point_id=fp.id,
                              purpose=OutboxPurpose.escalation(stage), urgent=True)
                for fp in recipients
            ]
            session.add_all(rows)
            session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.ESCALATED, detail={
                "stage": stage, "focal_point_ids": [fp.id for fp in recipients],
            }))
            session.commit()
            return [row.id for row in rows], stage + 1 if stage < LAST_STAGE else None
        session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.ESCALATION_SKIPPED,
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


def awaiting(session: Session, routed_before: datetime, limit: int) -> list[tuple[int, int]]:
    """Return (case id, next stage) of cases whose escalation timer should be running.

    Those routed to someone who must acknowledge (a routing that paged, not a flood), neither
    acknowledged nor closed, with a stage left; the longest waiting first.
    """
    paged = exists().where(CaseEvent.case_id == Case.id, CaseEvent.kind == CaseEventKind.ROUTED)
    rows = session.execute(
        select(Case.id, Case.escalation_stage)
        .where(Case.status == CaseStatus.ROUTED, Case.routed_at < routed_before,
               Case.acknowledged_at.is_(None), Case.closed_at.is_(None),
               Case.escalation_stage < LAST_STAGE, paged)
        .order_by(Case.routed_at, Case.id)
        .limit(limit)
    ).all()
    return [(case_id, stage + 1) for case_id, stage in rows]


def due_at(
    session: Session, case_ids: Sequence[int], delays: Mapping[str, float] | None = None
) -> dict[int, datetime]:
    """Return when each case's next stage is due: its delay after its last stage, or routing."""
    last = dict(session.execute(
        select(CaseEvent.case_id, func.max(CaseEvent.created_at))
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.kind == CaseEventKind.ESCALATED)
        .group_by(CaseEvent.case_id)
    ).tuples().all())
    due = {}
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids))):
        since = last.get(case.id) or case.routed_at or case.created_at
        due[case.id] = aware(since) + timedelta(seconds=delay_for(case, delays))
    return due
