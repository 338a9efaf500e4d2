"""The escalation job: one stage of a case nobody acknowledged; safe to run twice."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from gateway.cases.escalation import delay_for, run_stage
from gateway.storage.db import session_scope
from gateway.storage.models import Case
from workers.enqueue import enqueue_sends, schedule_escalation

log = logging.getLogger(__name__)


def escalate_case(case_id: int, stage: int) -> None:
    """Send a case nobody acknowledged to its next recipients, and set the next timer."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        outbox_ids, following = run_stage(session, case_id, stage)
        case = session.get(Case, case_id) if following is not None else None
        delay = delay_for(case, app.config.get("ESCALATION_DELAYS")) if case else None
    if outbox_ids:
        log.warning("case %s escalated (stage %s) to %d focal point(s)",
                    case_id, stage, len(outbox_ids))
    enqueue_sends(app, ((outbox_id, True) for outbox_id in outbox_ids))
    if following is not None and delay is not None:
        schedule_escalation(app, case_id, following, delay)
