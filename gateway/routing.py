"""Who receives a case: the focal points covering its place and its category, nearest first."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import Integer, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from gateway.models import (
    Case,
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


def recipients_for(session: Session, case: Case) -> list[FocalPoint]:
    """Return the focal points a case goes to: the nearest level covering it, primaries first."""
    levels = _coverers_by_distance(session, case)
    chosen = _nearest(levels)
    if case.needs_triage:
        # An SMS no flow understood: the focal points of the reporter's last known place read
        # it, else those whose role is to triage.
        if case.location_id is None:
            chosen = []
        return chosen or _nearest(_coverers_by_distance(session, case, Role.TRIAGE))
    if chosen and _needs_a_woman(case) and not any(fp.gender == Gender.FEMALE for fp in chosen):
        # Girls and sexual violence go to a woman where one covers the area: the nearest one,
        # in addition to those chosen above.
        for points in levels.values():
            woman = _woman(points)
            if woman is not None:
                chosen = [*chosen, woman]
                break
    return chosen


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
