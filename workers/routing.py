"""The routing job: route a case (cases/routing.py), then queue its sends and escalation."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.cases.escalation import delay_for
from gateway.cases.routing import route
from gateway.delivery.send import send_routed
from gateway.storage.db import session_scope
from workers.enqueue import enqueue_sends, schedule_escalation


def route_case(case_id: int, send_now: bool = False) -> None:
    """Route a new case to its focal points and queue their SMS; safe to run twice.

    send_now: send them from this job (delivery/send.py send_routed) instead of one job each.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        routed = route(session, case_id, app.config["FLOOD_CASES_PER_HOUR"])
        if routed is None:
            return
        delay = delay_for(routed.case, app.config.get("ESCALATION_DELAYS"))
    if routed.escalate:
        schedule_escalation(app, case_id, 1, delay)
    if send_now:
        send_routed(app, routed.outbox_ids, routed.urgent)
        return
    # If Redis refuses a send, its row stays QUEUED and the sweep queues it again.
    enqueue_sends(app, ((outbox_id, routed.urgent) for outbox_id in routed.outbox_ids))


def route_and_send(case_id: int) -> None:
    """Route a new case and send its SMS from this one job (the door's routing job)."""
    route_case(case_id, send_now=True)
