"""Failed send attempts, counted by reason in Redis so every worker adds to one total."""

from __future__ import annotations

import logging

from flask import Flask
from redis.exceptions import RedisError

from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

SEND_FAILURES_KEY = "gateway:metrics:send-failures"


def failure_reason(error: str) -> str:
    """Reduce a send error to a reason with few possible values, fit for a metric label."""
    if error.startswith("network error"):
        return "network"
    if error.startswith("provider error"):
        return "provider_http"
    if error.startswith("provider status "):
        code = error.split()[2]
        return f"provider_status_{code}" if code.isdigit() else "provider_status"
    if error.startswith("provider answered without"):
        return "provider_answer"
    return "other"


def count_send_failure(app: Flask, reason: str) -> None:
    """Count one failed send attempt by reason, in Redis so every worker adds to one total."""
    try:
        get_redis(app).hincrby(SEND_FAILURES_KEY, reason, 1)
    except RedisError as exc:
        log.warning("send failure not counted: %s", type(exc).__name__)
