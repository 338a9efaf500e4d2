"""What a desk user may see: the one place where every case query is limited.

A user sees the cases of their places (a place covers everything below it) and of their
categories (none listed: all), of the kinds their role works:

- child_protection: alerts; coordinator: alerts and help requests; services: help requests;
- conduct and assistance: complaints (complaints about personnel travel on a restricted path);
- triage: the SMS no flow understood (`needs_triage`), whatever they turn out to be;
- admin: no case (administration only: the roster, the outbox, the audit).

A case with no place is seen by those who cover a top-level place, as routing sends it. A case
outside one's scope is not found (404), exactly like a case that does not exist. Nobody sees who
reported: the database holds nothing to see.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, Select, and_, false, literal_column, or_, select
from sqlalchemy.orm import Session, aliased

from gateway.storage.models import (
    COVERED_WITH,
    Case,
    CaseKind,
    DeskRole,
    Location,
    OutboxMessage,
    OutboxPurpose,
    User,
    UserLocation,
)

_ZERO = literal_column("0", Integer)

KINDS: dict[DeskRole, tuple[CaseKind, ...]] = {
    DeskRole.CHILD_PROTECTION: (CaseKind.ALERT,),
    DeskRole.COORDINATOR: (CaseKind.ALERT, CaseKind.HELP_REQUEST),
    DeskRole.SERVICES: (CaseKind.HELP_REQUEST,),
    DeskRole.CONDUCT: (CaseKind.COMPLAINT,),
    DeskRole.ASSISTANCE: (CaseKind.COMPLAINT,),
    DeskRole.TRIAGE: (),
    DeskRole.ADMIN: (),
}
# The roles a kind of case is routed to first: they read the reporter's own words.
READERS: dict[CaseKind, frozenset[DeskRole]] = {
    CaseKind.ALERT: frozenset({DeskRole.CHILD_PROTECTION}),
    CaseKind.COMPLAINT: frozenset({DeskRole.CONDUCT}),
    CaseKind.HELP_REQUEST: frozenset({DeskRole.SERVICES}),
}


def place_ids(session: Session, user: User) -> Select[tuple[int]]:
    """Return a query of the ids of the user's places and every place below them."""
    tree = (
        select(Location.id)
        .join(UserLocation, UserLocation.location_id == Location.id)
        .where(UserLocation.user_id == user.id)
        .cte("user_places", recursive=True)
    )
    child = aliased(Location)
    tree = tree.union_all(select(child.id).where(child.parent_id == tree.c.id))
    return select(tree.c.id)


def covers_top(session: Session, user: User) -> bool:
    """Tell whether the user covers a top-level place (and so the cases with no place)."""
    return session.scalar(
        select(UserLocation.location_id)
        .join(Location, Location.id == UserLocation.location_id)
        .where(UserLocation.user_id == user.id, Location.parent_id.is_(None))
        .limit(1)
    ) is not None


def categories_seen(user: User) -> set[str] | None:
    """Return the categories a user sees (their own and those filed under them), None: all."""
    if not user.categories or "*" in user.categories:
        return None
    seen = set(user.categories)
    seen |= {category for category, under in COVERED_WITH.items()
             if not under.isdisjoint(user.categories)}
    return seen


def visible(session: Session, user: User) -> ColumnElement[bool]:
    """Return the condition a case must meet to be seen by the user."""
    if not user.active:
        return false()
    role = DeskRole(user.role)
    if role == DeskRole.TRIAGE:
        kinds = Case.needs_triage.is_(True)
    elif KINDS[role]:
        kinds = and_(Case.kind.in_(KINDS[role]), Case.needs_triage.is_(False))
    else:
        return false()
    places = Case.location_id.in_(place_ids(session, user))
    if covers_top(session, user):
        places = or_(places, Case.location_id.is_(None))
    condition = and_(kinds, places)
    seen = categories_seen(user)
    if seen is not None and role != DeskRole.TRIAGE:
        condition = and_(condition, Case.category.in_(sorted(seen)))
    return condition


def cases(session: Session, user: User) -> Select[tuple[Case]]:
    """Return a query of the cases the user may see, to filter and order further."""
    return select(Case).where(visible(session, user))


def find(session: Session, user: User, reference: str) -> Case | None:
    """Return the user's case of this reference, or None: not there or not theirs alike."""
    return session.scalar(cases(session, user).where(Case.reference == reference.strip()))


def may_read_words(session: Session, user: User, case: Case) -> bool:
    """Tell whether the user may read the reporter's own words (the free text) on a case.

    Those the flow routed the case to: its first role (triage for a case to triage), and a
    user who is a focal point the case was sent to (a coordinator it was escalated to).
    """
    role = DeskRole(user.role)
    if case.needs_triage:
        return role == DeskRole.TRIAGE
    if role in READERS.get(CaseKind(case.kind), frozenset()):
        return True
    if user.focal_point_id is None:
        return False
    return session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.case_id == case.id,
        OutboxMessage.focal_point_id == user.focal_point_id,
        OutboxMessage.purpose != OutboxPurpose.COMMAND_ALERT,
    ).limit(1)) is not None
