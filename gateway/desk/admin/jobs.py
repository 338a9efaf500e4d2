"""/admin/jobs: the jobs that failed, each with a "Retry" button (through workers.enqueue).

A job is shown by id, function, queue, time and the last line of what RQ kept of its error
(its class and frames: workers/failures.py), never its arguments.
"""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, url_for
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from gateway.desk import audit
from gateway.desk.admin.common import admin_only, bp, the_app
from gateway.desk.i18n import _
from gateway.desk.session import db_user
from gateway.storage.db import session_scope
from workers.enqueue import FailedJob, failed_jobs, retry_failed

# RQ job ids here: letters, digits, "_" and "-" (workers/enqueue.py).
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
# Failed jobs listed at most (the newest); the rest are counted.
MAX_SHOWN = 200


@bp.get("/admin/jobs")
@admin_only
def jobs() -> tuple[str, int]:
    """List the failed jobs of every queue, newest first."""
    try:
        failed: list[FailedJob] | None = failed_jobs(the_app())
    except RedisError:
        failed = None  # the page says the queues cannot be read now
    if failed is None:
        return render_template("desk/admin_jobs.html", jobs=None, more=0), 503
    return render_template("desk/admin_jobs.html", jobs=failed[:MAX_SHOWN],
                           more=max(len(failed) - MAX_SHOWN, 0)), 200


@bp.post("/admin/jobs/<job_id>/retry")
@admin_only
def retry(job_id: str) -> Response:
    """Put a failed job back on its queue; it runs again (every job is safe to run twice)."""
    if not JOB_ID.fullmatch(job_id):
        abort(404)
    try:
        requeued = retry_failed(the_app(), job_id)
    except RedisError:
        flash(_("The queues cannot be reached now: try again in a moment."), "error")
        return redirect(url_for("desk_admin.jobs"))
    if requeued:
        with session_scope() as db:
            audit.record(db, db_user(db), "job_retried", job_id=job_id)
            db.commit()
        flash(_("Job %(job)s is queued again.", job=job_id))
    else:
        flash(_("Job %(job)s is no longer among the failed jobs.", job=job_id), "error")
    return redirect(url_for("desk_admin.jobs"))
