"""Who receives a case: the focal points covering its place and its category, nearest first."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Integer, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from gateway.models import (
    Case,
    CaseKind,
    FocalPoint,
    FocalPointLocation,
    Gender,
    Level,
    Location,
    Role,
)

# A literal 0, not a bound parameter: PostgreSQL needs the recursive query's column types to agree.
_ZERO = literal_column("0", Integer)

# Cases a woman should receive wherever one covers the area (design: "do no harm").
WOMAN_CATEGORIES = frozenset({"sexual_violence"})
WOMAN_SEXES = frozenset({"girls", "both"})


def _coverers_by_distance(
    session: Session, case: Case, role: Role = Role.CHILD_PROTECTION
) -> dict[int, list[FocalPoint]]:
    """Return active focal points of a role covering the case's place, by distance.

    Distance 0 is the case's own location, 1 its parent, and so on up to the country: a
    location covers everything below it. A case without a location is covered by those who
    cover a top-level location (distance 0).
    """
    base = select(FocalPoint, _ZERO.label("distance")).join(
        FocalPointLocation, FocalPointLocation.focal_point_id == FocalPoint.id
    )
    if case.location_id is None:
        top = select(Location.id).where(Location.parent_id.is_(None))
        query = base.where(FocalPointLocation.location_id.in_(top))
    else:
        # The case's location and all its ancestors, in one recursive query.
        chain = (
            select(Location.id, Location.parent_id, _ZERO.label("distance"))
            .where(Location.id == case.location_id)
            .cte("chain", recursive=True)
        )
        parent = aliased(Location)
        chain = chain.union_all(
            select(parent.id, parent.parent_id, (chain.c.distance + 1).label("distance")).where(
                parent.id == chain.c.parent_id
            )
        )
        query = (
            select(FocalPoint, chain.c.distance)
            .join(FocalPointLocation, FocalPointLocation.focal_point_id == FocalPoint.id)
            .join(chain, chain.c.id == FocalPointLocation.location_id)
        )
    query = query.where(
        FocalPoint.active.is_(True), FocalPoint.role == role
    ).order_by(FocalPoint.id)

    by_distance: dict[int, list[FocalPoint]] = defaultdict(list)
    nearest: dict[int, int] = {}
    for focal_point, distance in session.execute(query):
        # Categories are a JSON list: filtered here, portable across databases.
        if not focal_point.covers_category(case.category):
            continue
        if focal_point.id not in nearest or distance < nearest[focal_point.id]:
            nearest[focal_point.id] = distance
            by_distance[distance].append(focal_point)
    # A focal point covering two places of the chain counts at the nearer one only.
    return {
        distance: [fp for fp in points if nearest[fp.id] == distance]
        for distance, points in sorted(by_distance.items())
    }


def _needs_a_woman(case: Case) -> bool:
    return case.category in WOMAN_CATEGORIES or case.sex in WOMAN_SEXES


def _woman(points: list[FocalPoint]) -> FocalPoint | None:
    """Return the first woman of points, primaries before backups."""
    ordered = sorted(points, key=lambda fp: (fp.level != Level.PRIMARY, fp.id))
    return next((fp for fp in ordered if fp.gender == Gender.FEMALE), None)


def _nearest(levels: dict[int, list[FocalPoint]]) -> list[FocalPoint]:
    """Return the nearest level's primaries, or its backups when it has no primary."""
    for points in levels.values():
        if points:
            primaries = [fp for fp in points if fp.level == Level.PRIMARY]
            return primaries or points
    return []


# Help a complaint's survivor needs now: a victim-assistance focal point receives it at once.
ASSISTANCE_NEEDS = frozenset({"health", "safety", "psychosocial"})


def roles_for(case: Case) -> list[Role]:
    """Return the roles a case is routed to: complaints only ever to `conduct` (and help)."""
    if case.kind == CaseKind.COMPLAINT:
        needs = (case.answers or {}).get("help_now")
        return [Role.CONDUCT, *([Role.ASSISTANCE] if needs in ASSISTANCE_NEEDS else [])]
    if case.kind == CaseKind.HELP_REQUEST:
        return [Role.SERVICES]
    return [Role.CHILD_PROTECTION]


@dataclass(frozen=True)
class Plan:
    """Who a case goes to, and whether it needed a woman that nobody of its role could be."""

    recipients: list[FocalPoint]
    no_woman: bool = False


def _with_a_woman(
    case: Case, levels: dict[int, list[FocalPoint]], chosen: list[FocalPoint]
) -> tuple[list[FocalPoint], bool]:
    """Add the nearest woman of levels when none is chosen; True when there is none at all."""
    if not chosen or not _needs_a_woman(case) or any(fp.gender == Gender.FEMALE for fp in chosen):
        return chosen, False
    for points in levels.values():
        woman = _woman(points)
        if woman is not None:
            return [*chosen, woman], False
    return chosen, True


def routing_plan(session: Session, case: Case) -> Plan:
    """Return the focal points a case goes to: per role, the nearest level, primaries first.

    Girls and sexual violence go to a woman where one covers the area with the same role: the
    nearest one, in addition to those chosen; where none does, the plan says so.
    """
    if case.needs_triage:
        # An SMS no flow understood: the focal points of the reporter's last known place read
        # it, else those whose role is to triage.
        chosen = _nearest(_coverers_by_distance(session, case)) if case.location_id else []
        return Plan(chosen or _nearest(_coverers_by_distance(session, case, Role.TRIAGE)))
    recipients: list[FocalPoint] = []
    no_woman = False
    for role in roles_for(case):
        levels = _coverers_by_distance(session, case, role)
        chosen, missing = _with_a_woman(case, levels, _nearest(levels))
        recipients += [fp for fp in chosen if fp not in recipients]
        no_woman = no_woman or missing
    return Plan(recipients, no_woman)


def recipients_for(session: Session, case: Case) -> list[FocalPoint]:
    """Return the focal points a case goes to (see routing_plan)."""
    return routing_plan(session, case).recipients


def coverers(session: Session, case: Case, role: Role) -> dict[int, list[FocalPoint]]:
    """Return the active focal points of a role covering the case, by distance (nearest first)."""
    return _coverers_by_distance(session, case, role)


FLOOD_WINDOW = timedelta(hours=1)


def flood_count(session: Session, case: Case, limit: int) -> int | None:
    """Return how many cases the case's reporter made in the hour up to it, when over `limit`.

    A reporter over the limit (a flood, or a phone in the wrong hands) still has every case
    saved, but focal points are not paged for each one.
    """
    if limit <= 0 or case.reporter_id is None:
        return None
    count = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.reporter_id == case.reporter_id,
            Case.id <= case.id,
            Case.created_at >= case.created_at - FLOOD_WINDOW,
        )
    ) or 0
    return count if count > limit else None
