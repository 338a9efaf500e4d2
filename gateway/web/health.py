"""Health for load balancers (/healthz) and Prometheus metrics (/metrics, behind a token).

Anyone may ask /healthz, so it answers only ok or unavailable: the age of the oldest unrouted
case and the queue depths would let an observer time new reports. The details are for whoever
holds the metrics token.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.cases import spool
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus, aware, utcnow
from gateway.storage.redis import get_redis
from gateway.web import metrics
from workers.enqueue import queue_depths

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _database() -> tuple[dict[str, Any], float | None]:
    """Check the database; return its state and when the oldest unrouted case was made."""
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            oldest = session.scalar(
                select(func.min(Case.created_at)).where(Case.status == CaseStatus.NEW)
            )
    except SQLAlchemyError as exc:
        log.warning("health: database unavailable: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}, None
    if oldest is None:
        return {"ok": True}, None
    return {"ok": True}, aware(oldest).timestamp()


def _redis() -> tuple[dict[str, Any], dict[str, int] | None]:
    """Check Redis; return its state and the depth of each queue."""
    try:
        redis = get_redis()
        redis.ping()
        depth = queue_depths(current_app)
    except RedisError as exc:
        log.warning("health: Redis unavailable: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}, None
    return {"ok": True}, depth


def _bearer_ok(token: str) -> bool:
    """Tell whether the request carries `Authorization: Bearer <token>`, in constant time."""
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _backlog(oldest_case: float | None) -> tuple[float | None, int]:
    """Return the age in seconds of the oldest unrouted case, spool included, and spooled cases."""
    spooled = spool.pending(current_app)
    if spooled:
        # Spooled cases are unrouted too, and the oldest of all.
        first = spooled[0].stat().st_mtime
        oldest_case = first if oldest_case is None else min(oldest_case, first)
    if oldest_case is None:
        return None, len(spooled)
    return round(max(0.0, utcnow().timestamp() - oldest_case), 3), len(spooled)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Say whether this web process can take hops (200, or 503); details only with the token."""
    database, oldest_case = _database()
    redis, depth = _redis()
    healthy = database["ok"] and redis["ok"]
    status = 200 if healthy else 503
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable"}
    token = current_app.config.get("METRICS_TOKEN")
    if not token or not _bearer_ok(token):
        return jsonify(body), status
    oldest, spooled = _backlog(oldest_case)
    body.update(
        database=database,
        redis=redis,
        queue_depth=depth,
        oldest_unrouted_case_seconds=oldest,
        spooled_cases=spooled,
        time=time.time(),
    )
    return jsonify(body), status


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Serve the metrics to a scraper holding the bearer token; 404 when none is configured."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    if not _bearer_ok(token):
        return Response(
            "Unauthorized\n", status=401, content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(metrics.render(current_app), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Serve /healthz and /metrics, count hops, and replay what an earlier run spooled."""
    app.register_blueprint(bp)
    metrics.init_app(app)
