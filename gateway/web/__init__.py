"""The web process's doors: webhooks per provider behind one guard, health and metrics."""

from __future__ import annotations

from flask import Flask

from gateway.web import africastalking, guard, health, smsgate


def init_app(app: Flask) -> None:
    """Register the webhooks, /healthz and /metrics."""
    guard.init_app(app)
    app.register_blueprint(africastalking.bp)
    app.register_blueprint(smsgate.bp)
    health.init_app(app)
