"""The administration pages (admin role only; any other role gets 404, as for a missing page).

`overview` (/admin: a link and a count per page), `users` (desk users, the second-factor policy
per role), `directory` (focal points, places, services: list, search, deactivate, CSV upload
through the same import code as the commands), `outbox` (every SMS and its state, never a
reporter's number or words), `jobs` (failed jobs, through workers.enqueue, with a retry) and
`audit_log` (the audit trail, whose viewing is itself audited). `common` holds the blueprint.
"""

from __future__ import annotations

from gateway.desk.admin import audit_log, directory, jobs, outbox, overview, users
from gateway.desk.admin.common import bp

__all__ = ["audit_log", "bp", "directory", "jobs", "outbox", "overview", "users"]
