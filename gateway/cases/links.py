"""Possible duplicates: one incident, many reports.

A case routed links to the most recent earlier case of the same kind, category and place
(same location, so the same p-code) made within 48 hours, and not held back in a flood (its
reference would tell a focal point nothing): one link, kind `possible`, and its
focal points' SMS says "Maybe same as 4821937". Cases without a place, cases to triage and help
requests are never linked; alerts link to alerts only, complaints to complaints only (they stay
on the conduct path). A focal point who received both cases confirms it (`SAME 4821937 7654321`,
confirmed by code as every command that changes a case): the link becomes `confirmed`, and both
cases' histories say who (a focal point id) and when.

A duplicate never delays nor stops an alert: the link is found in the routing transaction,
inside a savepoint, and any failure is logged and forgotten (`link_quietly`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, aliased

from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseLink,
    FocalPoint,
    LinkKind,
    OutboxMessage,
    OutboxPurpose,
    Role,
    utcnow,
)

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
# Kinds whose reports may describe one incident: an alert with alerts, a complaint with
# complaints. A help request is one child's own request: never a duplicate.
LINKABLE = frozenset({CaseKind.ALERT, CaseKind.COMPLAINT})


def linkable(case: Case) -> bool:
    """Tell whether a case may be linked at all: a place, an alert or a complaint, not triage."""
    return case.kind in LINKABLE and not case.needs_triage and case.location_id is not None


def _before(case: Case) -> ColumnElement[bool]:
    """Cases made before this one (the same instant: the lower id first)."""
    return or_(Case.created_at < case.created_at,
               and_(Case.created_at == case.created_at, Case.id < case.id))


def earlier_match(session: Session, case: Case) -> Case | None:
    """Return the most recent earlier case of the same kind, category and place within 48 h."""
    if not linkable(case):
        return None
    return session.scalar(
        select(Case)
        .where(
            Case.id != case.id,
            Case.kind == case.kind,
            Case.needs_triage.is_(False),
            Case.category == case.category,
            Case.location_id == case.location_id,
            Case.created_at >= case.created_at - WINDOW,
            _before(case),
            # A case held back in a flood paged nobody: its reference would tell them nothing.
            ~select(CaseEvent.id).where(CaseEvent.case_id == Case.id,
                                        CaseEvent.kind == CaseEventKind.FLAGGED_FLOOD).exists(),
        )
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(1)
    )


def link_possible(session: Session, case: Case) -> CaseLink | None:
    """Add the case's possible link to its earlier match (once: a case routed again keeps it)."""
    if not linkable(case):
        return None
    if session.scalar(select(CaseLink.id).where(CaseLink.case_id == case.id).limit(1)):
        return None
    earlier = earlier_match(session, case)
    if earlier is None:
        return None
    link = CaseLink(case_id=case.id, other_case_id=earlier.id, kind=LinkKind.POSSIBLE)
    session.add(link)
    return link


def link_quietly(session: Session, case: Case) -> None:
    """Link a case being routed to its possible duplicate; never fail the routing for it."""
    try:
        with session.begin_nested():
            link = link_possible(session, case)
        if link is not None:
            log.info("case %s: possible duplicate of case %s", case.id, link.other_case_id)
    except Exception:  # a boundary: a duplicate never delays nor stops an alert
        log.exception("case %s: possible duplicate not looked for; routed all the same", case.id)


@dataclass(frozen=True)
class SameAs:
    """What a case's SMS says of its link: the earlier case's reference, and if confirmed."""

    reference: str
    confirmed: bool


# Built once: a new alias per call defeats SQLAlchemy's statement cache, and same_as runs for
# every focal point SMS (about 2 ms of a worker's 16 ms per alert, benchmarks/RESULTS.md).
_OTHER = aliased(Case, name="other_case")


def same_as(session: Session, case: Case) -> SameAs | None:
    """Return the earlier case this one is linked to: a confirmed link first, else the latest."""
    other = _OTHER
    row = session.execute(
        select(other.reference, CaseLink.kind)
        .join(other, other.id == CaseLink.other_case_id)
        .where(CaseLink.case_id == case.id, other.kind == case.kind)
        .order_by((CaseLink.kind == LinkKind.CONFIRMED).desc(), CaseLink.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return SameAs(row[0], row[1] == LinkKind.CONFIRMED)


# Confirmation by a focal point (SAME) ---------------------------------------------------------


def in_order(first: Case, second: Case) -> tuple[Case, Case]:
    """Return (earlier, later) of two cases."""
    if (first.created_at, first.id) <= (second.created_at, second.id):
        return first, second
    return second, first


def _received(session: Session, case: Case, ids: set[int]) -> set[int]:
    """Return which of the focal point ids were sent the case (a warning does not count)."""
    if not ids:
        return set()
    return set(session.scalars(select(OutboxMessage.focal_point_id).where(
        OutboxMessage.case_id == case.id,
        OutboxMessage.focal_point_id.in_(ids),
        OutboxMessage.purpose != OutboxPurpose.COMMAND_ALERT,
    )))


def may_confirm(session: Session, first: Case, second: Case,
                points: Iterable[FocalPoint]) -> FocalPoint | None:
    """Return the sender's row that may say two cases are one incident, or None.

    Both cases were sent to the sender's number, they are two cases of one kind (alerts, or
    complaints and then only by `conduct`), and neither is a case to triage.
    """
    if first.id == second.id or first.kind != second.kind or first.kind not in LINKABLE:
        return None
    if first.needs_triage or second.needs_triage:
        return None
    points = [fp for fp in points
              if first.kind != CaseKind.COMPLAINT or fp.role == Role.CONDUCT]
    ids = {fp.id for fp in points}
    got_first, got_second = _received(session, first, ids), _received(session, second, ids)
    if not got_first or not got_second:
        return None
    _earlier, later = in_order(first, second)
    chosen = got_second if later is second else got_first
    return next(fp for fp in points if fp.id in chosen)


def confirm(session: Session, earlier: Case, later: Case, actor: FocalPoint) -> bool:
    """Mark the later case a duplicate of the earlier; False if it was already confirmed."""
    link = session.scalar(select(CaseLink).where(
        CaseLink.case_id == later.id, CaseLink.other_case_id == earlier.id))
    if link is None:
        link = CaseLink(case_id=later.id, other_case_id=earlier.id)
        session.add(link)
    elif link.kind == LinkKind.CONFIRMED:
        return False
    now: datetime = utcnow()
    link.kind, link.confirmed_by, link.confirmed_at = LinkKind.CONFIRMED, actor.id, now
    by = f"focal_point:{actor.id}"
    session.add_all([
        CaseEvent(case_id=later.id, kind=CaseEventKind.LINKED, created_at=now,
                  detail={"by": by, "duplicate_of": earlier.reference}),
        CaseEvent(case_id=earlier.id, kind=CaseEventKind.LINKED, created_at=now,
                  detail={"by": by, "duplicate": later.reference}),
    ])
    session.flush()
    return True


@dataclass(frozen=True)
class LinkView:
    """One link as `gateway cases show` prints it."""

    kind: LinkKind
    later: str  # the possible duplicate's reference
    earlier: str
    created_at: datetime
    confirmed_by: int | None
    confirmed_at: datetime | None


def links_of(session: Session, case: Case) -> list[LinkView]:
    """Return the links from and to a case, oldest first (only cases of its own kind)."""
    later, earlier = aliased(Case), aliased(Case)
    rows = session.execute(
        select(CaseLink, later.reference, earlier.reference)
        .join(later, later.id == CaseLink.case_id)
        .join(earlier, earlier.id == CaseLink.other_case_id)
        .where(or_(CaseLink.case_id == case.id, CaseLink.other_case_id == case.id),
               later.kind == case.kind, earlier.kind == case.kind)
        .order_by(CaseLink.id)
    )
    return [LinkView(link.kind, later_ref, earlier_ref, link.created_at, link.confirmed_by,
                     link.confirmed_at) for link, later_ref, earlier_ref in rows]
