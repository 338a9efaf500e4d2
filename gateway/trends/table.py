"""The trends table: alerts counted by area, category and month, then small cells hidden."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.orm import Session

from gateway.storage.models import Case, CaseKind, Verification, aware
from gateway.trends.children import tally
from gateway.trends.places import Place, PlaceTree
from gateway.trends.suppress import shown

COLUMNS = ("place_pcode", "place_name", "category", "month", "cases", "girls", "boys", "unknown")
COUNTS = ("cases", "girls", "boys", "unknown")
# The name of the row of alerts whose place is not known (its p-code is empty).
NOT_KNOWN = "not known"


@dataclass(frozen=True)
class Scope:
    """Which alerts are counted: all of them (the command), or those a desk user may see."""

    # Ids of the places whose alerts count; None: every place.
    places: frozenset[int] | None = None
    # Whether alerts with no place count (a desk user covering a top-level place sees them).
    unplaced: bool = True
    # The categories counted; None: all.
    categories: frozenset[str] | None = None
    # Only alerts received at or after this moment; None: since the first.
    since: datetime | None = None


# Every alert (the command's scope).
EVERYTHING = Scope()


def counted() -> ColumnElement[bool]:
    """Return the condition an alert meets to be counted: never a complaint or a help request."""
    return and_(
        Case.kind == CaseKind.ALERT,
        Case.needs_triage.is_(False),
        Case.duplicate_of_id.is_(None),
        Case.verification != Verification.FALSE_REPORT,
    )


def within(scope: Scope) -> ColumnElement[bool]:
    """Return the condition an alert meets to be in the scope."""
    condition: ColumnElement[bool] = true()
    if scope.places is not None:
        places = Case.location_id.in_(sorted(scope.places))
        condition = or_(places, Case.location_id.is_(None)) if scope.unplaced else places
    elif not scope.unplaced:
        condition = Case.location_id.is_not(None)
    if scope.categories is not None:
        condition = and_(condition, Case.category.in_(sorted(scope.categories)))
    if scope.since is not None:
        condition = and_(condition, Case.created_at >= scope.since)
    return condition


def alerts(scope: Scope, *columns: object) -> Select[tuple[object, ...]]:
    """Return a query of the counted alerts in scope, with the columns asked for."""
    return select(*columns).where(counted(), within(scope))  # type: ignore[call-overload]


def month_of(moment: datetime) -> str:
    """Return the month of a moment (UTC) as YYYY-MM."""
    return aware(moment).strftime("%Y-%m")


@dataclass
class Cell:
    """One row of the table, before suppression: an area (None: not known), category, month."""

    area: Place | None
    category: str
    month: str
    cases: int = 0
    girls: int = 0
    boys: int = 0
    unknown: int = 0

    def counts(self) -> dict[str, int]:
        """Return the four counts by column name."""
        return {name: getattr(self, name) for name in COUNTS}


@dataclass
class Table:
    """The cells of a table, in order (place, category, month), and the tree that placed them."""

    level: int
    cells: list[Cell] = field(default_factory=list)


def _order(cell: Cell) -> tuple[int, str, str, str]:
    pcode = cell.area.pcode if cell.area is not None else ""
    return (cell.area is None, pcode, cell.category, cell.month)


def count(session: Session, level: int, scope: Scope = EVERYTHING,
          tree: PlaceTree | None = None) -> Table:
    """Count the alerts in scope by area at `level`, category and month."""
    tree = tree or PlaceTree.load(session)
    rows = session.execute(alerts(
        scope, Case.location_id, Case.category, Case.created_at, Case.girls, Case.boys,
        Case.children, Case.sex,
    )).all()
    cells: dict[tuple[int | None, str, str], Cell] = {}
    for location_id, category, created_at, girls, boys, children, sex in rows:
        area = tree.area(location_id, level, scope.places) if location_id is not None else None
        month = month_of(created_at)
        key = (area.id if area is not None else None, category, month)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell(area, category, month)
        tallied = tally(girls, boys, children, sex)
        cell.cases += 1
        cell.girls += tallied.girls
        cell.boys += tallied.boys
        cell.unknown += tallied.unknown
    return Table(level, sorted(cells.values(), key=_order))


def suppressed_rows(
    table: Table, threshold: int, name: Callable[[Place], str] = lambda place: place.name,
    not_known: str = NOT_KNOWN,
) -> list[dict[str, int | str]]:
    """Return the table's rows as shown: every count from 1 to threshold - 1 hidden."""
    return [{
        "place_pcode": cell.area.pcode if cell.area is not None else "",
        "place_name": name(cell.area) if cell.area is not None else not_known,
        "category": cell.category,
        "month": cell.month,
        **{column: shown(value, threshold) for column, value in cell.counts().items()},
    } for cell in table.cells]


def month_range(first: str, last: str) -> list[str]:
    """Return every month from first to last (YYYY-MM), both included."""
    year, month = (int(part) for part in first.split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def shown_totals(table: Table, threshold: int) -> dict[str, int]:
    """Return per month the cases of the cells shown whole (hidden cells left out): the chart.

    Every month from the first to the last of the table is there, 0 when nothing is shown.
    Adding hidden cells in would let them be worked out by subtraction from the table.
    """
    present = sorted({cell.month for cell in table.cells})
    totals = dict.fromkeys(month_range(present[0], present[-1]) if present else [], 0)
    for cell in table.cells:
        if cell.cases >= threshold:
            totals[cell.month] += cell.cases
    return totals
