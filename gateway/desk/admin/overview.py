"""/admin: a link to each administration page, with what it holds."""

from __future__ import annotations

from flask import render_template
from redis.exceptions import RedisError
from sqlalchemy import func, select

from gateway.desk.admin.common import admin_only, bp, the_app
from gateway.storage.db import session_scope
from gateway.storage.models import (
    FocalPoint,
    Location,
    OutboxMessage,
    OutboxStatus,
    Service,
    User,
)
from workers.enqueue import failed_job_count

# Messages that did not go out: the outbox page filters on each.
UNSENT = (OutboxStatus.NOT_SENT, OutboxStatus.FAILED)


@bp.get("/admin")
@admin_only
def index() -> str:
    """Show the administration pages, each with its count."""
    with session_scope() as db:
        counts = {
            "users": db.scalar(select(func.count(User.id))),
            "focal_points": db.scalar(
                select(func.count(FocalPoint.id)).where(FocalPoint.active.is_(True))),
            "places": db.scalar(select(func.count(Location.id))),
            "services": db.scalar(
                select(func.count(Service.id)).where(Service.active.is_(True))),
        }
        unsent: dict[OutboxStatus, int] = {
            status: count for status, count in db.execute(
                select(OutboxMessage.status, func.count(OutboxMessage.id))
                .where(OutboxMessage.status.in_(UNSENT))
                .group_by(OutboxMessage.status))
        }
    try:
        failed_jobs: int | None = failed_job_count(the_app())
    except RedisError:
        failed_jobs = None  # the page says the queues cannot be read now
    return render_template(
        "desk/admin.html", counts=counts, failed_jobs=failed_jobs,
        not_sent=unsent.get(OutboxStatus.NOT_SENT, 0), failed=unsent.get(OutboxStatus.FAILED, 0),
    )
