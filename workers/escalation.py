"""The escalation job: one stage of a case nobody acknowledged; safe to run twice."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from gateway.db import session_scope
from gateway.escalation import run_stage, schedule_escalation
from workers.enqueue import enqueue_send

log = logging.getLogger(__name__)


def escalate_case(case_id: int, stage: int) -> None:
    """Send a case nobody acknowledged to its next recipients, and set the next timer."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        outbox_ids, following = run_stage(session, case_id, stage)
    if outbox_ids:
        log.warning("case %s escalated (stage %s) to %d focal point(s)",
                    case_id, stage, len(outbox_ids))
    for outbox_id in outbox_ids:
        enqueue_send(outbox_id, True, app)
    if following is not None:
        schedule_escalation(case_id, following, app)
