"""The sending job: one outbox row, one SMS, at most once (delivery/send.py does the work)."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.delivery.send import send


def send_outbox_message(outbox_id: int, deferral: int = 0, slot: float | None = None) -> None:
    """Send one outbox row's SMS and record what happened; safe to run twice."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    send(app, outbox_id, deferral, slot)
