"""/admin/users: desk users, disabling one, and the second factor each role must give.

Users are created on the command line (`gateway users add`): a one-time password is printed
there, never shown in a browser.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from gateway.desk import audit
from gateway.desk.accounts import disable_user
from gateway.desk.admin.common import admin_only, bp, role_labels
from gateway.desk.i18n import _
from gateway.desk.session import db_user
from gateway.storage.db import session_scope
from gateway.storage.models import DeskRole, RolePolicy, User, utcnow


@bp.get("/admin/users")
@admin_only
def users() -> str:
    """List every desk user, and the second-factor policy per role."""
    with session_scope() as db:
        people = list(db.scalars(
            select(User).order_by(User.email)
            .options(selectinload(User.locations), selectinload(User.focal_point))
        ))
        required = {policy.role for policy in db.scalars(select(RolePolicy))
                    if policy.totp_required}
        return render_template(
            "desk/admin_users.html", users=people, required=required, roles=list(DeskRole),
            role_labels=role_labels(), me=db_user(db).id,
        )


@bp.post("/admin/users/<int:user_id>/disable")
@admin_only
def disable(user_id: int) -> Response:
    """Disable a user: they can no longer log in, and their sessions end now."""
    with session_scope() as db:
        admin = db_user(db)
        user = db.get(User, user_id)
        if user is None:
            flash(_("No such user."), "error")
        elif user.id == admin.id:
            flash(_("You cannot disable your own account."), "error")
        elif not user.active:
            flash(_("%(email)s was already disabled.", email=user.email))
        else:
            disable_user(db, user.email)
            audit.record(db, admin, "user_disabled", email=user.email)
            db.commit()
            flash(_("%(email)s is disabled: their sessions have ended.", email=user.email))
    return redirect(url_for("desk_admin.users"))


@bp.post("/admin/users/policy")
@admin_only
def policy() -> Response:
    """Set, per role, whether a second factor (TOTP) is required at login."""
    wanted = set(request.form.getlist("totp_required"))
    with session_scope() as db:
        admin = db_user(db)
        stored = {policy.role: policy for policy in db.scalars(select(RolePolicy))}
        changed = False
        for role in DeskRole:
            required = role.value in wanted
            row = stored.get(role)
            if row is None:
                if not required:
                    continue  # no row reads as "not required"
                row = RolePolicy(role=role, totp_required=False)
                db.add(row)
            if row.totp_required != required:
                row.totp_required = required
                row.updated_at = utcnow()
                changed = True
                if required:
                    # Sessions opened without the factor end now: their next login sets it up.
                    # (The admin acting keeps theirs, so the page answers; theirs ends at logout.)
                    db.execute(update(User).where(
                        User.role == role, User.totp_secret.is_(None), User.id != admin.id,
                    ).values(session_epoch=User.session_epoch + 1))
        if changed:
            audit.record(db, admin, "policy_changed",
                         totp_required=sorted(r.value for r in DeskRole if r.value in wanted))
            db.commit()
            flash(_("The second-factor policy is saved."))
        else:
            flash(_("Nothing changed."))
    return redirect(url_for("desk_admin.users"))
