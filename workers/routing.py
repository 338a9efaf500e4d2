"""The routing job: one outbox row per recipient of a case, then one send job per row."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db import session_scope
from gateway.escalation import delay_for, schedule_escalation
from gateway.focal_commands import FLOOD_SUMMARY
from gateway.models import Case, CaseEvent, CaseStatus, OutboxMessage, utcnow
from gateway.routing import FLOOD_WINDOW, flood_count, routing_plan
from workers.enqueue import enqueue_send

log = logging.getLogger(__name__)

CASE_ALERT = "case_alert"
FLAGGED_FLOOD = "flagged_flood"


def _summary_sent_this_hour(session: Session, case: Case) -> bool:
    """Tell whether a flood summary about this case's reporter went out within the hour."""
    if case.reporter_id is None:
        return False
    found = session.scalar(
        select(OutboxMessage.id)
        .join(Case, Case.id == OutboxMessage.case_id)
        .where(
            Case.reporter_id == case.reporter_id,
            OutboxMessage.purpose == FLOOD_SUMMARY,
            OutboxMessage.created_at >= utcnow() - FLOOD_WINDOW,
        )
        .limit(1)
    )
    return found is not None


def route_case(case_id: int) -> None:
    """Route a new case to its focal points and queue their SMS; safe to run twice."""
    with session_scope() as session:
        case = session.get(Case, case_id)
        if case is None or case.status != CaseStatus.NEW:
            return
        urgent = case.is_urgent
        escalation_delay = delay_for(case, current_app.config.get("ESCALATION_DELAYS"))
        flood = flood_count(session, case, current_app.config["FLOOD_CASES_PER_HOUR"])
        plan = routing_plan(session, case)
        recipients = [] if flood else plan.recipients
        # A flood pages nobody case by case, but never nobody at all: once an hour per sender,
        # the latest case goes out as a summary (a real emergency can look like a flood).
        summary = bool(flood) and not _summary_sent_this_hour(session, case)
        status = CaseStatus.ROUTED if recipients or flood else CaseStatus.UNASSIGNED
        # Only the run that moves the case out of NEW goes on: a concurrent run waits for
        # this row's lock, finds the status changed and stops here.
        claimed = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.status == CaseStatus.NEW)
            .values(status=status, routed_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.rollback()
            return
        # A case routed before (a partial case, since completed) goes only to those it adds.
        alerted = set(session.scalars(
            select(OutboxMessage.focal_point_id)
            .where(OutboxMessage.case_id == case_id, OutboxMessage.purpose == CASE_ALERT)
        ))
        rows = [
            OutboxMessage(
                case_id=case_id, focal_point_id=fp.id, purpose=CASE_ALERT, urgent=urgent
            )
            for fp in recipients
            if fp.id not in alerted
        ]
        if summary:
            rows = [
                OutboxMessage(
                    case_id=case_id, focal_point_id=fp.id, purpose=FLOOD_SUMMARY, urgent=urgent
                )
                for fp in plan.recipients
            ]
        session.add_all(rows)
        ids = [row.focal_point_id for row in rows]
        if flood:
            # Saved and visible, but focal points are not paged once per case of a flood.
            session.add(CaseEvent(case_id=case_id, kind=FLAGGED_FLOOD,
                                  detail={"cases_last_hour": flood}))
        else:
            session.add(CaseEvent(case_id=case_id, kind="routed",
                                  detail={"focal_point_ids": ids}))
        if plan.no_woman and not flood:
            # Girls or sexual violence, and no woman covers it: coordinators see the gap.
            session.add(CaseEvent(case_id=case_id, kind="no_woman_available",
                                  detail={"category": case.category}))
        if not recipients and not flood:
            session.add(
                CaseEvent(
                    case_id=case_id,
                    kind="no_recipient",
                    detail={"category": case.category, "location_id": case.location_id},
                )
            )
        try:
            session.commit()
        except IntegrityError:
            # Rows for this case already exist: another run routed it.
            session.rollback()
            log.info("case %s already routed by another run", case_id)
            return
        outbox_ids = [row.id for row in rows]

    if flood:
        log.warning("case %s flagged: its reporter made %d cases within an hour", case_id, flood)
        for outbox_id in outbox_ids:  # the hour's summary, if this case carries it
            enqueue_send(outbox_id, urgent)
        return
    if not recipients:
        log.warning("case %s unassigned: nobody covers its place and category", case_id)
        return
    log.info("case %s routed to %d focal point(s)", case_id, len(outbox_ids))
    for outbox_id in outbox_ids:
        # If Redis refuses, the row stays QUEUED and the sweep queues it again.
        enqueue_send(outbox_id, urgent)
    schedule_escalation(case_id, 1, delay=escalation_delay)
