"""/admin/audit: who viewed or did what, on which case, newest first; viewing it is audited."""

from __future__ import annotations

from flask import render_template, request

from gateway.desk import audit
from gateway.desk.admin.common import PAGE_SIZE, admin_only, bp, offset, page_number, split_page
from gateway.desk.session import db_user
from gateway.storage.db import session_scope


@bp.get("/admin/audit")
@admin_only
def audit_page() -> str:
    """Show the audit trail, filtered by case reference and user e-mail, 50 to a page."""
    reference = request.args.get("case", "").strip()[:12]
    email = request.args.get("user", "").strip()[:254]
    page = page_number()
    with session_scope() as db:
        rows = list(audit.entries(db, reference=reference or None, email=email or None,
                                  limit=PAGE_SIZE + 1, offset=offset(page)))
        rows, more = split_page(rows, page)
        # What was looked for (`case` is record's own argument: the case an entry is about).
        viewed = {key: value for key, value in
                  (("case_filter", reference), ("user_filter", email.lower()),
                   ("page", page if page > 1 else 0)) if value}
        audit.record(db, db_user(db), "audit_viewed", **viewed)
        db.commit()
        # Not `user`: base.html names the logged-in user so.
        return render_template("desk/admin_audit.html", entries=rows, page=page, more=more,
                               case_filter=reference, user_filter=email)
