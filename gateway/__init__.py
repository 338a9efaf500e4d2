"""The community alert gateway: Africa's Talking webhooks, flows, cases and routing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from redis import Redis

from gateway.config import load_config
from gateway.providers import SmsProvider


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    redis: Redis | None = None,
    provider: SmsProvider | None = None,
) -> Flask:
    """Build the web application; settings come from the environment, then `config`."""
    from gateway import conversation, crypto, db, health, logs, providers
    from gateway import redis as redis_ext
    from gateway.webhooks import africastalking
    from workers import queues

    app = Flask(__name__)
    app.config.update(load_config())
    if config:
        app.config.update(config)
    logging.getLogger("gateway").setLevel(logging.INFO)
    logs.init_app(app)

    db.init_app(app)
    crypto.init_app(app)
    redis_ext.init_app(app, redis)
    queues.init_app(app)
    providers.init_app(app, provider)
    conversation.init_app(app)
    app.register_blueprint(africastalking.bp)
    health.init_app(app)

    return app
