"""/cases/<reference>: everything of a case the user's role may read, and its history.

Every view is written to the audit trail. The SMS of the case are listed by purpose and
recipient (a focal point's name, or "reporter"): the query never reads a number nor the words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.cases import actions
from gateway.cases.links import links_of
from gateway.desk import audit, scope
from gateway.desk.cases.common import (
    AGE_LABELS,
    CASE_ROLES,
    CATEGORY_LABELS,
    EVENT_LABELS,
    KIND_LABELS,
    OUTBOX_STATUS_LABELS,
    OUTCOME_LABELS,
    PERPETRATOR_LABELS,
    PURPOSE_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    URGENCY_LABELS,
    VERIFICATION_LABELS,
    bp,
    find_case,
    label,
    state_of,
    urgency_of,
    when_filter,
)
from gateway.desk.i18n import _, current_language
from gateway.desk.session import db_user, login_required
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    DeskRole,
    FocalPoint,
    OutboxMessage,
    Outcome,
    User,
    Verification,
)


def _place_chain(case: Case, lang: str) -> str:
    names, place = [], case.location
    while place is not None:
        names.append(place.name_in(lang))
        place = place.parent
    return ", ".join(names) if names else _("Not known")


class People:
    """Names of focal points and e-mail addresses of users, loaded once for a page."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.points: dict[int, str] = {}
        self.users: dict[int, str] = {}

    def load(self, point_ids: Iterable[int], user_ids: Iterable[int]) -> None:
        """Load the names of these focal points and users."""
        wanted = set(point_ids) - set(self.points)
        if wanted:
            self.points.update(self.db.execute(
                select(FocalPoint.id, FocalPoint.name).where(FocalPoint.id.in_(wanted))).all())
        wanted = set(user_ids) - set(self.users)
        if wanted:
            self.users.update(self.db.execute(
                select(User.id, User.email).where(User.id.in_(wanted))).all())

    def point(self, point_id: int | None) -> str:
        """Return a focal point's name."""
        return self.points.get(point_id or 0, _("Unknown focal point"))

    def user(self, user_id: int | None) -> str:
        """Return a user's e-mail address."""
        return self.users.get(user_id or 0, _("Unknown user"))

    def who(self, by: Any, user_id: Any = None) -> str:
        """Return who "focal_point:<id>" or "user:<id>" is; the desk user behind a focal point."""
        kind, _sep, number = str(by or "").partition(":")
        if not number.isdigit():
            return _("The system")
        name = self.point(int(number)) if kind == "focal_point" else self.user(int(number))
        if isinstance(user_id, int) and kind == "focal_point":
            name = _("%(name)s (desk: %(email)s)", name=name, email=self.user(user_id))
        return name

    @staticmethod
    def ids_in(details: Iterable[Mapping[str, Any]]) -> tuple[set[int], set[int]]:
        """Return the focal point and user ids named in events' details."""
        points: set[int] = set()
        users: set[int] = set()
        for detail in details:
            for key in ("by", "to"):
                kind, _sep, number = str(detail.get(key) or "").partition(":")
                if number.isdigit():
                    (points if kind == "focal_point" else users).add(int(number))
            if isinstance(detail.get("user"), int):
                users.add(detail["user"])
        return points, users


def _event_line(event: CaseEvent, people: People) -> dict[str, Any]:
    detail = event.detail or {}
    kind = str(event.kind)
    what = label(EVENT_LABELS, kind)
    extra = ""
    if kind == CaseEventKind.CLOSED:
        extra = label(OUTCOME_LABELS, detail.get("outcome"), _("no outcome given"))
        if detail.get("duplicate_of"):
            extra = _("%(outcome)s %(reference)s", outcome=extra,
                      reference=detail["duplicate_of"])
    elif kind == CaseEventKind.VERIFICATION_SET:
        extra = label(VERIFICATION_LABELS, detail.get("verification"))
    elif kind == CaseEventKind.ASSIGNED:
        extra = _("to %(name)s", name=people.who(detail.get("to")))
    elif kind in (CaseEventKind.ESCALATED, CaseEventKind.ESCALATION_SKIPPED):
        extra = label(STAGE_LABELS, detail.get("stage"))
    elif kind == CaseEventKind.LINKED:
        extra = str(detail.get("duplicate_of") or detail.get("duplicate") or "")
    elif kind == CaseEventKind.ACKNOWLEDGED and detail.get("stops_escalation") is False:
        extra = _("the escalation goes on until conduct acknowledges")
    who = people.who(detail.get("by"), detail.get("user")) if detail.get("by") else ""
    return {"at": event.created_at, "what": what, "extra": extra, "who": who}


def _facts(db: Session, user: User, case: Case, people: People) -> list[tuple[str, str]]:
    """Return the case's details as (label, value), what the role may read."""
    lang = current_language()
    routed = db.scalar(select(func.min(CaseEvent.created_at)).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.ROUTED))
    facts = [
        (_("Kind"), label(KIND_LABELS, str(case.kind))),
        (_("Category"), label(CATEGORY_LABELS, case.category)),
        (_("Place"), _place_chain(case, lang)),
        (_("State"), state_of(case)),
        (_("Urgency"), label(URGENCY_LABELS, urgency_of(case))),
        (_("Received"), when_filter(case.created_at)),
        (_("Sent to focal points"), when_filter(routed) or "-"),
        (_("Acknowledged"), when_filter(case.acknowledged_at) or "-"),
        (_("Closed"), when_filter(case.closed_at) or "-"),
        (_("Escalation"), label(STAGE_LABELS, case.escalation_stage)),
    ]
    if case.girls is not None or case.boys is not None:
        facts += [(_("Girls"), case.girls or "-"), (_("Boys"), case.boys or "-")]
    if case.age_group is not None:
        facts.append((_("Youngest child's age"), label(AGE_LABELS, str(case.age_group))))
    if case.perpetrator is not None:
        facts.append((_("Who did it"), label(PERPETRATOR_LABELS, str(case.perpetrator))))
    if case.incident_from is not None or case.incident_to is not None:
        facts.append((_("When it happened"), _("%(start)s to %(end)s",
                                               start=case.incident_from or "?",
                                               end=case.incident_to or "?")))
    if case.answers:
        facts.append((_("Answers"), ", ".join(f"{key}: {value}" for key, value
                                              in sorted(case.answers.items()))))
    if case.relayed_by_id is not None:
        facts.append((_("Relayed by"), people.point(case.relayed_by_id)))
    facts.append((_("Verification"), label(VERIFICATION_LABELS, str(case.verification))))
    if case.closed_at is not None:
        outcome = label(OUTCOME_LABELS, case.outcome.value if case.outcome else None,
                        _("No outcome given"))
        if case.duplicate_of is not None:
            outcome = _("%(outcome)s %(reference)s", outcome=outcome,
                        reference=case.duplicate_of.reference)
        facts.append((_("Outcome"), outcome))
    if case.assigned_user_id is not None:
        facts.append((_("Assigned to"), people.user(case.assigned_user_id)))
    elif case.assigned_focal_point_id is not None:
        facts.append((_("Assigned to"), people.point(case.assigned_focal_point_id)))
    return facts


MESSAGE_COLUMNS = (
    OutboxMessage.purpose, OutboxMessage.focal_point_id, OutboxMessage.status,
    OutboxMessage.attempts, OutboxMessage.delivery_status, OutboxMessage.failure_reason,
    OutboxMessage.created_at, OutboxMessage.sent_at, OutboxMessage.delivered_at,
)


def _messages(db: Session, case: Case, people: People) -> list[dict[str, Any]]:
    """Return every SMS of the case: to whom (a name, or "reporter"), never a number or words."""
    # The columns shown, and only those: the encrypted recipient and body are never read.
    rows = db.execute(select(*MESSAGE_COLUMNS).where(OutboxMessage.case_id == case.id)
                      .order_by(OutboxMessage.id)).all()
    return [{
        "purpose": label(PURPOSE_LABELS, str(row.purpose)),
        "to": people.point(row.focal_point_id) if row.focal_point_id is not None
        else _("reporter"),
        "status": label(OUTBOX_STATUS_LABELS, str(row.status)),
        "attempts": row.attempts, "delivery": row.delivery_status or "",
        "reason": row.failure_reason or "", "queued": row.created_at, "sent": row.sent_at,
        "delivered": row.delivered_at,
    } for row in rows]


def _links(db: Session, user: User, case: Case) -> list[dict[str, str]]:
    """Return the case's possible and confirmed duplicates the user may also see."""
    shown = []
    for link in links_of(db, case):
        other = link.earlier if link.later == case.reference else link.later
        if scope.find(db, user, other) is None:
            continue  # a case outside one's scope is not even named
        shown.append({"reference": other, "confirmed": link.confirmed_at is not None,
                      "earlier": other == link.earlier})
    return shown


def assignees(db: Session, case: Case) -> list[tuple[str, str]]:
    """Return (value, name) of who may take the case: its area's focal points, users seeing it."""
    options = [(f"fp:{fp.id}", _("%(name)s (focal point, %(role)s)", name=fp.name,
                                 role=label(ROLE_LABELS, str(fp.role))))
               for fp in actions.assignable_focal_points(db, case)]
    users = db.scalars(select(User).where(User.active.is_(True), User.role != DeskRole.ADMIN)
                       .order_by(User.email))
    options += [(f"user:{other.id}", _("%(email)s (desk, %(role)s)", email=other.email,
                                       role=label(ROLE_LABELS, str(other.role))))
                for other in users if scope.find(db, other, case.reference) is not None]
    return options


@bp.get("/cases/<reference>")
@login_required(*CASE_ROLES)
def show(reference: str) -> str:
    """Show everything of a case the user may read, and the actions they may take."""
    with session_scope() as db:
        user = db_user(db)
        case = find_case(db, user, reference)
        events = list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                 .order_by(CaseEvent.id)))
        notes = list(actions.notes_of(db, case))
        messages_of = select(OutboxMessage.focal_point_id).where(
            OutboxMessage.case_id == case.id)
        points, users = People.ids_in(event.detail or {} for event in events)
        people = People(db)
        people.load(
            {*points, *(fp_id or 0 for fp_id in db.scalars(messages_of)),
             case.relayed_by_id or 0, case.assigned_focal_point_id or 0} - {0},
            {*users, *(note.user_id for note in notes if note.user_id),
             case.assigned_user_id or 0} - {0},
        )
        allowed = actions.permitted(case, str(user.role))
        page = {
            "case": case,
            "facts": _facts(db, user, case, people),
            "words": decrypt(case.details) if case.details and scope.may_read_words(
                db, user, case) else None,
            "messages": _messages(db, case, people),
            "links": _links(db, user, case),
            "notes": [{"body": decrypt(note.body), "author": people.user(note.user_id),
                       "at": note.created_at} for note in notes],
            "history": [_event_line(event, people) for event in events],
            "allowed": allowed,
            "is_open": case.closed_at is None,
            "acknowledged": case.acknowledged_at is not None,
            "assignees": assignees(db, case) if actions.ASSIGN in allowed else [],
            "verifications": [(code.value, label(VERIFICATION_LABELS, code.value))
                              for code in Verification],
            "verification": str(case.verification),
            "outcomes": [(code.value, label(OUTCOME_LABELS, code.value)) for code in Outcome],
        }
        html = render_template("desk/case.html", **page)
        audit.record(db, user, "view", case)
        db.commit()
    return html


