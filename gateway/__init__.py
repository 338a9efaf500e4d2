"""The community alert gateway: Africa's Talking webhooks, flows, cases and routing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from redis import Redis

from gateway import conversation, desk, logs, web
from gateway.cases import spool
from gateway.channels import ussd
from gateway.channels.sms import reader
from gateway.config import load_config
from gateway.delivery import providers, throttle
from gateway.delivery.providers import SmsProvider
from gateway.storage import crypto, db
from gateway.storage import redis as redis_store
from workers import enqueue


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    redis: Redis | None = None,
    provider: SmsProvider | None = None,
) -> Flask:
    """Build the web application; settings come from the environment, then `config`."""
    app = Flask(__name__)
    logs.configure()  # before the settings are read: their warnings are log lines too
    app.config.update(load_config())
    if config:
        app.config.update(config)
    logging.getLogger("gateway").setLevel(logging.INFO)
    logs.init_app(app)

    db.init_app(app)
    crypto.init_app(app)
    redis_store.init_app(app, redis)
    enqueue.init_app(app)
    providers.init_app(app, provider)
    throttle.init_app(app)
    conversation.init_app(app)
    ussd.init_app(app)
    reader.init_app(app)
    spool.init_app(app)
    web.init_app(app)
    desk.init_app(app)
    return app
