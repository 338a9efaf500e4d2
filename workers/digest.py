"""The weekly digest job: queue each coordinator's SMS once it is due, then send them."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.trends.digest import queue_due
from workers.enqueue import enqueue_sends


def send_digests() -> int:
    """Queue this week's digests not yet queued and their sending; how many were queued."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    queued = queue_due(app)
    enqueue_sends(app, ((outbox_id, False) for outbox_id in queued))
    return len(queued)
