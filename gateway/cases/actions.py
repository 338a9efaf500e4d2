"""What people do to a case, on the desk or by SMS: one code path, so the two are one thing.

Acknowledge, close, reopen, set the verification, assign, add a note. Each adds an event to the
case's history saying who (`by`: "focal_point:<id>" or "user:<id>") and when; a desk user linked
to a focal point (User.focal_point_id) acts as that focal point, with "user": their id in the
detail, so the history shows one person whether they used the desk or their phone.

Acknowledging ends the escalation (escalation.py stops once acknowledged_at or closed_at is set)
and queues the reporter's one SMS if they asked for it (follow_up.mark_followed_up): exactly
once, whoever acts first and however. Closing acknowledges first. The caller commits, then
queues the sends of the returned outbox ids (workers.enqueue), as for any SMS.

The complaint rules of the SMS commands hold here too: on a complaint only `conduct` closes,
reopens, verifies or assigns; `assistance` may acknowledge (recorded, but conduct's escalation
goes on) and add notes, nothing else.

DONE by SMS closes with no outcome (None): the SMS gives no reason, and "other" would record one
nobody gave; the desk shows it as not given. Only the desk sets an outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.cases.contact import erase_contact
from gateway.cases.follow_up import mark_followed_up
from gateway.cases.routing import levels_covering, roles_for
from gateway.errors import GatewayError
from gateway.storage.crypto import encrypt
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseNote,
    FocalPoint,
    Outcome,
    Role,
    User,
    Verification,
    utcnow,
)

log = logging.getLogger(__name__)

NOTE_MAX = 4000  # characters: a note is a few lines of what was done, not a file

ACKNOWLEDGE = "acknowledge"
ASSIGN = "assign"
NOTE = "note"
VERIFY = "verify"
CLOSE = "close"
REOPEN = "reopen"
ACTIONS = (ACKNOWLEDGE, ASSIGN, NOTE, VERIFY, CLOSE, REOPEN)
# What each role may do to the cases it sees; complaints are narrower (COMPLAINT_ACTIONS).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.CHILD_PROTECTION.value: frozenset(ACTIONS),
    Role.SERVICES.value: frozenset(ACTIONS),
    Role.TRIAGE.value: frozenset(ACTIONS),
    Role.COORDINATOR.value: frozenset(ACTIONS),
    Role.CONDUCT.value: frozenset(ACTIONS),
    Role.ASSISTANCE.value: frozenset({ACKNOWLEDGE, NOTE}),
}
COMPLAINT_ACTIONS: dict[str, frozenset[str]] = {
    Role.CONDUCT.value: frozenset(ACTIONS),
    Role.ASSISTANCE.value: frozenset({ACKNOWLEDGE, NOTE}),
}


class ActionRefused(GatewayError):
    """An action that makes no sense on the case as it is (the message is a short key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Actor:
    """Who acts: the `by` of the history, the role that decides what they may do."""

    by: str  # "focal_point:<id>" or "user:<id>"
    role: str  # a Role or DeskRole value
    user_id: int | None = None  # a desk user, also when they act as their focal point
    extra: dict[str, Any] = field(default_factory=dict)

    def detail(self, **more: Any) -> dict[str, Any]:
        """Return an event's detail: who, the desk user behind a focal point, and `more`."""
        detail: dict[str, Any] = {"by": self.by}
        if self.user_id is not None and not self.by.startswith("user:"):
            detail["user"] = self.user_id
        return {**detail, **self.extra, **more}


def focal_point_actor(point: FocalPoint) -> Actor:
    """Return the actor of a focal point's SMS command."""
    return Actor(by=f"focal_point:{point.id}", role=str(point.role))


def user_actor(user: User) -> Actor:
    """Return the actor of a desk user: their focal point when linked (one person), else them."""
    if user.focal_point_id is not None:
        return Actor(by=f"focal_point:{user.focal_point_id}", role=str(user.role),
                     user_id=user.id)
    return Actor(by=f"user:{user.id}", role=str(user.role), user_id=user.id)


def permitted(case: Case, role: str) -> frozenset[str]:
    """Return the actions a role may take on a case it sees."""
    if case.kind == CaseKind.COMPLAINT and not case.needs_triage:
        return COMPLAINT_ACTIONS.get(str(role), frozenset())
    return ROLE_ACTIONS.get(str(role), frozenset())


def _check(case: Case, actor: Actor, action: str) -> None:
    if action not in permitted(case, actor.role):
        raise ActionRefused("not_allowed")


def _stops_escalation(case: Case, actor: Actor) -> bool:
    """Tell whether the actor's acknowledgement ends the escalation: not assistance's on a
    complaint (conduct must take it)."""
    return not (case.kind == CaseKind.COMPLAINT and not case.needs_triage
                and actor.role != Role.CONDUCT.value)


@dataclass(frozen=True)
class Result:
    """What an action did: whether the case changed, and the SMS to send once committed."""

    changed: bool
    outbox_ids: tuple[int, ...] = ()


# Acknowledge, close, reopen -------------------------------------------------------------------


def acknowledge(app: Flask, session: Session, case: Case, by: Actor) -> Result:
    """Acknowledge a case: the escalation ends, the reporter's one SMS is queued (once).

    On a complaint, `assistance` taking it is recorded and changes nothing else. Acknowledging
    an acknowledged case changes nothing.
    """
    _check(case, by, ACKNOWLEDGE)
    if not _stops_escalation(case, by):
        # Victim assistance takes it: recorded (once per person), but conduct's escalation
        # goes on.
        if any(event.kind == CaseEventKind.ACKNOWLEDGED and event.detail.get("by") == by.by
               for event in case.events):
            return Result(changed=False)
        case.events.append(CaseEvent(kind=CaseEventKind.ACKNOWLEDGED, detail=by.detail(
            role=by.role, stops_escalation=False)))
        return Result(changed=True)
    done = mark_followed_up(app, session, case, by=by.by)
    if done.changed and len(by.detail()) > 1:
        # mark_followed_up writes {"by": ...}: add the desk user behind a focal point.
        event = case.events[-1]
        event.detail = {**event.detail, **by.detail()}
    return Result(changed=done.changed, outbox_ids=done.outbox_ids)


def close(app: Flask, session: Session, case: Case, by: Actor, outcome: Outcome | None,
          duplicate_of: Case | None = None) -> Result:
    """Close a case with its outcome (None: DONE by SMS gave none); acknowledge it first.

    A duplicate names the earlier case it repeats (the caller has checked the user may see
    it). The number a reporter agreed to be called on is erased, as on DONE.
    """
    _check(case, by, CLOSE)
    if case.closed_at is not None:
        raise ActionRefused("already_closed")
    if outcome == Outcome.DUPLICATE:
        if duplicate_of is None or duplicate_of.id == case.id:
            raise ActionRefused("duplicate_of_missing")
    else:
        duplicate_of = None
    outbox_ids: tuple[int, ...] = ()
    if case.acknowledged_at is None:
        outbox_ids = acknowledge(app, session, case, by).outbox_ids
    case.closed_at = utcnow()
    case.outcome = outcome
    case.duplicate_of_id = duplicate_of.id if duplicate_of is not None else None
    more: dict[str, Any] = {"outcome": outcome.value if outcome is not None else None}
    if duplicate_of is not None:
        more["duplicate_of"] = duplicate_of.reference
    case.events.append(CaseEvent(kind=CaseEventKind.CLOSED, detail=by.detail(**more)))
    erase_contact(session, case.id)  # a number kept for a call goes with the case
    return Result(changed=True, outbox_ids=outbox_ids)


def reopen(session: Session, case: Case, by: Actor) -> Result:
    """Open a closed case again (it stays acknowledged: nothing escalates nor is sent again)."""
    _check(case, by, REOPEN)
    if case.closed_at is None:
        raise ActionRefused("not_closed")
    previous = case.outcome.value if case.outcome is not None else None
    case.closed_at = None
    case.outcome = None
    case.duplicate_of_id = None
    case.events.append(CaseEvent(kind=CaseEventKind.REOPENED, detail=by.detail(
        previous_outcome=previous)))
    return Result(changed=True)


# Verification, assignment, notes -------------------------------------------------------------


def set_verification(session: Session, case: Case, by: Actor,
                     verification: Verification) -> Result:
    """Record what checking the case found; the same value again is refused."""
    _check(case, by, VERIFY)
    previous = Verification(case.verification or Verification.UNVERIFIED)
    if previous == verification:
        raise ActionRefused("unchanged")
    case.verification = verification
    case.events.append(CaseEvent(kind=CaseEventKind.VERIFICATION_SET, detail=by.detail(
        verification=verification.value, previous=previous.value)))
    return Result(changed=True)


def assignable_focal_points(session: Session, case: Case) -> list[FocalPoint]:
    """Return the active focal points of the case's area and roles (and its coordinators)."""
    roles = list(roles_for(case))
    if case.kind != CaseKind.COMPLAINT and not case.needs_triage:
        roles.append(Role.COORDINATOR)  # restricted cases never leave their role
    chosen: dict[int, FocalPoint] = {}
    for role in roles:
        for points in levels_covering(session, case, role).values():
            for point in points:
                chosen.setdefault(point.id, point)
    return list(chosen.values())


def assign(session: Session, case: Case, by: Actor, *, focal_point: FocalPoint | None = None,
           user: User | None = None) -> Result:
    """Give the case to a focal point of its area and role, or to a desk user.

    A user must see the case: the caller checks their scope (gateway.desk.scope, which this
    package may not import); an inactive user or an admin is refused here.
    """
    _check(case, by, ASSIGN)
    if (focal_point is None) == (user is None):
        raise ActionRefused("assignee_missing")
    if focal_point is not None:
        if focal_point.id not in {fp.id for fp in assignable_focal_points(session, case)}:
            raise ActionRefused("assignee_not_allowed")
        if case.assigned_focal_point_id == focal_point.id and case.assigned_user_id is None:
            raise ActionRefused("unchanged")
        case.assigned_focal_point_id, case.assigned_user_id = focal_point.id, None
        to = f"focal_point:{focal_point.id}"
    else:
        assert user is not None
        if not user.active or user.role == "admin":
            raise ActionRefused("assignee_not_allowed")
        if case.assigned_user_id == user.id:
            raise ActionRefused("unchanged")
        # A user linked to a focal point is that person: the focal point is named too.
        case.assigned_user_id, case.assigned_focal_point_id = user.id, user.focal_point_id
        to = f"user:{user.id}"
    case.events.append(CaseEvent(kind=CaseEventKind.ASSIGNED, detail=by.detail(to=to)))
    return Result(changed=True)


def add_note(app: Flask, session: Session, case: Case, by: Actor, text: str) -> Result:
    """Add a note, encrypted at rest; the history says a note was added, never what it says."""
    _check(case, by, NOTE)
    body = text.strip()
    if not body:
        raise ActionRefused("empty_note")
    if len(body) > NOTE_MAX:
        raise ActionRefused("note_too_long")
    session.add(CaseNote(case_id=case.id, user_id=by.user_id, body=encrypt(body, app)))
    case.events.append(CaseEvent(kind=CaseEventKind.NOTE_ADDED, detail=by.detail()))
    return Result(changed=True)


def notes_of(session: Session, case: Case) -> Iterable[CaseNote]:
    """Return a case's notes, oldest first (their bodies still encrypted)."""
    return session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                           .order_by(CaseNote.id))
