"""Time to first acknowledgement: median and 90th percentile per area and category."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.storage.models import Case, CaseEvent, CaseEventKind, aware
from gateway.trends.places import Place, PlaceTree
from gateway.trends.table import EVERYTHING, Scope, alerts


@dataclass(frozen=True)
class Timing:
    """How long alerts of an area and category waited for their first acknowledgement.

    median and p90 are seconds, None when fewer acknowledged alerts than the threshold.
    """

    area: Place | None
    category: str
    median: float | None
    p90: float | None


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (share 0.9: the 90th) of values."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def waits(session: Session, level: int, scope: Scope = EVERYTHING,
          tree: PlaceTree | None = None) -> dict[tuple[Place | None, str], list[float]]:
    """Return, per area and category, the seconds each acknowledged alert waited."""
    tree = tree or PlaceTree.load(session)
    first = (
        select(CaseEvent.case_id, func.min(CaseEvent.created_at).label("at"))
        .where(CaseEvent.kind == CaseEventKind.ACKNOWLEDGED)
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    query = (
        alerts(scope, Case.location_id, Case.category, Case.created_at, Case.acknowledged_at,
               first.c.at)
        .outerjoin(first, first.c.case_id == Case.id)
        .where(Case.acknowledged_at.is_not(None) | first.c.at.is_not(None))
    )
    found: dict[tuple[Place | None, str], list[float]] = {}
    for location_id, category, created_at, acknowledged_at, event_at in session.execute(query):
        at = event_at if event_at is not None else acknowledged_at
        area = tree.area(location_id, level, scope.places) if location_id is not None else None
        seconds = (aware(at) - aware(created_at)).total_seconds()
        found.setdefault((area, category), []).append(max(seconds, 0.0))
    return found


def timings(session: Session, level: int, threshold: int, scope: Scope = EVERYTHING,
            tree: PlaceTree | None = None) -> list[Timing]:
    """Return the median and 90th percentile per area and category (hidden when small)."""
    result = []
    for (area, category), seconds in waits(session, level, scope, tree).items():
        enough = len(seconds) >= threshold
        result.append(Timing(
            area, category,
            statistics.median(seconds) if enough else None,
            percentile(seconds, 0.9) if enough else None,
        ))
    return sorted(result, key=lambda t: (t.area is None, t.area.pcode if t.area else "",
                                         t.category))
