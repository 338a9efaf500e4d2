"""The actions on a case's page: acknowledge, assign, note, verify, close, reopen.

Each goes through gateway.cases.actions, the code the SMS commands use too, so acting here or by
SMS is one thing. What makes no sense is refused with a message and changes nothing; each try is
audited. SMS an action queued are sent after the commit, through workers.enqueue (the one door).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, redirect, request, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from flows.i18n import N_
from gateway.cases import actions
from gateway.cases.actions import ActionRefused, Actor, Result
from gateway.desk import audit, scope
from gateway.desk.cases.common import (
    CASE_ROLES,
    REFUSALS,
    bp,
    find_case,
    label,
)
from gateway.desk.i18n import _
from gateway.desk.session import db_user, login_required
from gateway.partners import primero
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    FocalPoint,
    Outcome,
    User,
    Verification,
)
from workers.enqueue import enqueue_sends

Do = Callable[[Session, User, Case, Actor], Result]


def _act(reference: str, action: str, do: Do, done: str,
         unchanged: str = N_("Nothing changed."), *, to_primero: bool = False) -> Response:
    """Run an action on a visible case: refuse what makes no sense, audit, commit, then send.

    to_primero: the action may make an alert due for the MRM's Primero (verified, or closed as
    reported to the task force): its push is recorded with the action and queued after commit.
    """
    back = redirect(url_for(".show", reference=reference))
    with session_scope() as db:
        user = db_user(db)
        case = find_case(db, user, reference)
        try:
            result = do(db, user, case, actions.user_actor(user))
        except ActionRefused as refused:
            db.rollback()
            audit.record(db, user, action, find_case(db, user, reference), refused=refused.reason)
            db.commit()
            flash(label(REFUSALS, refused.reason, _("Nothing changed.")), "error")
            return back
        audit.record(db, user, action, case, changed=result.changed)
        push = to_primero and result.changed and primero.request_push_if_due(
            current_app, db, case, by=user.email)
        case_id = case.id
        try:
            db.commit()
        except IntegrityError:
            # Acted on by SMS at the same instant: the other one won; nothing is sent twice.
            db.rollback()
            flash(_(REFUSALS["conflict"]), "error")
            return back
    enqueue_sends(current_app, ((outbox_id, False) for outbox_id in result.outbox_ids))
    if push:
        primero.push_after_commit(current_app, case_id)
    flash(_(done) if result.changed else _(unchanged), "ok" if result.changed else "info")
    return back


def _form(name: str) -> str:
    return request.form.get(name, "").strip()


@bp.post("/cases/<reference>/acknowledge")
@login_required(*CASE_ROLES)
def acknowledge(reference: str) -> Response:
    """Acknowledge: the escalation ends, the reporter who asked gets their one SMS."""
    return _act(reference, "acknowledge",
                lambda db, _user, case, by: actions.acknowledge(current_app, db, case, by),
                N_("Case acknowledged."), N_("This case was already acknowledged."))


@bp.post("/cases/<reference>/note")
@login_required(*CASE_ROLES)
def note(reference: str) -> Response:
    """Add a note (encrypted at rest)."""
    text = request.form.get("note", "")
    return _act(reference, "note",
                lambda db, _user, case, by: actions.add_note(current_app, db, case, by, text),
                N_("Note added."))


@bp.post("/cases/<reference>/verify")
@login_required(*CASE_ROLES)
def verify(reference: str) -> Response:
    """Set what checking the case found."""
    chosen = _form("verification")

    def do(db: Session, _user: User, case: Case, by: Actor) -> Result:
        if chosen not in {code.value for code in Verification}:
            raise ActionRefused("bad_choice")
        return actions.set_verification(db, case, by, Verification(chosen))

    return _act(reference, "verify", do, N_("Verification saved."), to_primero=True)


@bp.post("/cases/<reference>/close")
@login_required(*CASE_ROLES)
def close(reference: str) -> Response:
    """Close with an outcome; a duplicate names the visible case it repeats."""
    chosen, typed = _form("outcome"), _form("duplicate_of")

    def do(db: Session, user: User, case: Case, by: Actor) -> Result:
        if chosen not in {code.value for code in Outcome}:
            raise ActionRefused("bad_choice")
        outcome = Outcome(chosen)
        earlier = None
        if outcome == Outcome.DUPLICATE:
            earlier = scope.find(db, user, typed) if typed else None
            if earlier is None:
                raise ActionRefused("duplicate_of_missing")
        return actions.close(current_app, db, case, by, outcome, duplicate_of=earlier)

    return _act(reference, "close", do, N_("Case closed."), to_primero=True)


@bp.post("/cases/<reference>/reopen")
@login_required(*CASE_ROLES)
def reopen(reference: str) -> Response:
    """Open a closed case again."""
    return _act(reference, "reopen",
                lambda db, _user, case, by: actions.reopen(db, case, by), N_("Case reopened."))


@bp.post("/cases/<reference>/assign")
@login_required(*CASE_ROLES)
def assign(reference: str) -> Response:
    """Give the case to a focal point of its area and role, or to a user who sees it."""
    kind, _sep, number = _form("assignee").partition(":")

    def do(db: Session, _user: User, case: Case, by: Actor) -> Result:
        if not number.isdigit() or kind not in ("fp", "user"):
            raise ActionRefused("assignee_missing")
        if kind == "fp":
            point = db.get(FocalPoint, int(number))
            if point is None:
                raise ActionRefused("assignee_not_allowed")
            return actions.assign(db, case, by, focal_point=point)
        other = db.get(User, int(number))
        if other is None or scope.find(db, other, case.reference) is None:
            raise ActionRefused("assignee_not_allowed")
        return actions.assign(db, case, by, user=other)

    return _act(reference, "assign", do, N_("Case assigned."))

