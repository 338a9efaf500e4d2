"""Trends: what is counted (alerts only), where (the level), when (the month), which children,
how long to the first acknowledgement, and the areas where no woman receives alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.cases.references import new_reference
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    Channel,
    Gender,
    Location,
    Role,
    Verification,
)
from gateway.trends.children import Children, tally
from gateway.trends.coverage import without_woman
from gateway.trends.suppress import ThresholdTooLow, check_threshold, shown
from gateway.trends.table import Table, count, shown_totals, suppressed_rows
from gateway.trends.timing import percentile, timings
from tests import deployment

JANUARY = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def places(make_app: Callable[..., Flask]) -> Flask:
    """An app with the standard deployment: CF > Ouaka (Bambari, Ippy), Bangui, Haute-Kotto."""
    app = make_app()
    deployment.standard(app)
    return app


def add_case(
    app: Flask, pcode: str | None, *, kind: CaseKind = CaseKind.ALERT,
    category: str = "recruitment", created_at: datetime = JANUARY, girls: str | None = "1",
    boys: str | None = "0", children: str = "unknown", sex: str = "unknown",
    acknowledged_after: timedelta | None = None, event: bool = True,
    needs_triage: bool = False, closed: bool = False, **fields: object,
) -> int:
    """Write a routed case straight into the database; its id.

    acknowledged_after: when it was first acknowledged (an ACKNOWLEDGED event, unless
    event=False: then only acknowledged_at, as a case acknowledged before events were kept).
    """
    with session_scope(app) as session:
        location = (session.scalar(select(Location).where(Location.pcode == pcode))
                    if pcode else None)
        acknowledged = created_at + acknowledged_after if acknowledged_after else None
        case = Case(reference=new_reference(), kind=kind, channel=Channel.USSD,
                    status=CaseStatus.ROUTED, category=category, location=location,
                    children=children, sex=sex, girls=girls, boys=boys, language="en",
                    created_at=created_at, routed_at=created_at, acknowledged_at=acknowledged,
                    needs_triage=needs_triage, closed_at=created_at if closed else None,
                    **fields)
        session.add(case)
        session.flush()
        if acknowledged is not None and event:
            # The history's first acknowledgement counts, even if acknowledged_at moved later.
            session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.ACKNOWLEDGED,
                                  detail={"by": "test"}, created_at=acknowledged))
            case.acknowledged_at = acknowledged + timedelta(hours=5)
        session.commit()
        return case.id


def cells(app: Flask, level: int) -> Table:
    with session_scope(app) as session:
        return count(session, level)


def by_place(table: Table) -> dict[str, int]:
    found: dict[str, int] = {}
    for cell in table.cells:
        pcode = cell.area.pcode if cell.area is not None else ""
        found[pcode] = found.get(pcode, 0) + cell.cases
    return found


def test_level_1_counts_under_the_prefecture_and_level_2_under_the_sub_prefecture(
    places: Flask,
) -> None:
    for pcode in ("CF521", "CF521", "CF522", "CF52", "CF611", None):
        add_case(places, pcode)
    assert by_place(cells(places, 1)) == {"CF52": 4, "CF61": 1, "": 1}
    # An alert that named only the prefecture stays on it: the totals lose nothing.
    assert by_place(cells(places, 2)) == {"CF521": 2, "CF522": 1, "CF52": 1, "CF611": 1, "": 1}
    # Deeper than the hierarchy goes: every alert on its own place.
    assert by_place(cells(places, 5)) == by_place(cells(places, 2))


def test_months_are_utc_calendar_months(places: Flask) -> None:
    add_case(places, "CF521", created_at=datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    add_case(places, "CF521", created_at=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    add_case(places, "CF521", created_at=datetime(2025, 12, 31, 12, 0, tzinfo=UTC))
    table = cells(places, 1)
    assert [(cell.month, cell.cases) for cell in table.cells] == [
        ("2025-12", 1), ("2026-01", 1), ("2026-02", 1),
    ]


def test_complaints_help_requests_triage_duplicates_and_false_reports_never_count(
    places: Flask,
) -> None:
    earlier = add_case(places, "CF521")
    for _ in range(12):  # far more complaints and help requests than alerts
        add_case(places, "CF521", kind=CaseKind.COMPLAINT)
        add_case(places, "CF521", kind=CaseKind.HELP_REQUEST)
    add_case(places, "CF521", needs_triage=True)
    add_case(places, "CF521", duplicate_of_id=earlier)
    add_case(places, "CF521", verification=Verification.FALSE_REPORT)
    table = cells(places, 2)
    assert [(cell.area.pcode if cell.area else "", cell.cases) for cell in table.cells] == [
        ("CF521", 1),
    ]


@pytest.mark.parametrize(("girls", "boys", "children", "sex", "expected"), [
    ("2-3", "1", "unknown", "unknown", (2, 1, 0)),  # lower bounds
    ("4-9", "10+", "unknown", "unknown", (4, 10, 0)),
    ("unknown", "unknown", "unknown", "unknown", (0, 0, 1)),  # a child, sex not known
    ("0", "unknown", "unknown", "unknown", (0, 0, 1)),
    ("2-3", "unknown", "unknown", "unknown", (2, 0, 0)),  # no more children asserted
    ("0", "0", "unknown", "unknown", (0, 0, 0)),  # an early warning: no child yet
    (None, None, "2-3", "both", (1, 1, 0)),  # made before girls and boys were counted
    (None, None, "4+", "girls", (4, 0, 0)),
    (None, None, "1", "boys", (0, 1, 0)),
    (None, None, "4+", "both", (1, 1, 2)),
    (None, None, "unknown", "unknown", (0, 0, 1)),
])
def test_children_are_tallied_from_the_answers(
    girls: str | None, boys: str | None, children: str, sex: str,
    expected: tuple[int, int, int],
) -> None:
    assert tally(girls, boys, children, sex) == Children(*expected)


def test_the_cells_add_up_girls_boys_and_unknown(places: Flask) -> None:
    add_case(places, "CF521", girls="2-3", boys="1")
    add_case(places, "CF522", girls="unknown", boys="unknown")
    add_case(places, "CF521", girls=None, boys=None, children="4+", sex="boys")
    add_case(places, "CF521", category="abduction", girls="10+", boys="0")
    table = cells(places, 1)
    assert [(c.category, c.cases, c.girls, c.boys, c.unknown) for c in table.cells] == [
        ("abduction", 1, 10, 0, 0), ("recruitment", 3, 2, 5, 1),
    ]


def test_every_count_from_1_to_the_threshold_minus_1_is_hidden(places: Flask) -> None:
    for _ in range(7):
        add_case(places, "CF521", girls="1", boys="0")  # 7 alerts, 7 girls, 0 boys
    add_case(places, "CF522", girls="4-9", boys="2-3")  # 1 alert, 4 girls, 2 boys
    rows = suppressed_rows(cells(places, 2), 5)
    assert [(r["place_pcode"], r["cases"], r["girls"], r["boys"], r["unknown"]) for r in rows] == [
        ("CF521", 7, 7, 0, 0), ("CF522", "<5", "<5", "<5", 0),
    ]
    for threshold in (3, 5, 10):
        for number in range(0, 12):
            small = 0 < number < threshold
            assert shown(number, threshold) == (f"<{threshold}" if small else number)
    assert check_threshold(3) == 3
    with pytest.raises(ThresholdTooLow, match="at least 3"):
        check_threshold(2)


def test_the_chart_adds_up_only_the_cells_shown_and_keeps_empty_months(places: Flask) -> None:
    for _ in range(6):
        add_case(places, "CF521", created_at=datetime(2025, 11, 3, tzinfo=UTC))
    for _ in range(5):
        add_case(places, "CF611", created_at=datetime(2025, 11, 9, tzinfo=UTC))
    add_case(places, "CF522", created_at=datetime(2025, 11, 9, tzinfo=UTC))  # hidden: left out
    for _ in range(2):
        add_case(places, "CF521", created_at=datetime(2026, 1, 9, tzinfo=UTC))
    # Level 1: Ouaka's 7 and Haute-Kotto's 5 shown; January's 2 hidden, not added in.
    assert shown_totals(cells(places, 1), 5) == {"2025-11": 12, "2025-12": 0, "2026-01": 0}
    # Level 2: Ippy's 1 hidden; adding it in would give it away (the table shows 6 and 5).
    assert shown_totals(cells(places, 2), 5) == {"2025-11": 11, "2025-12": 0, "2026-01": 0}


def test_time_to_first_acknowledgement_median_and_90th_percentile(places: Flask) -> None:
    for minutes in (50, 10, 30, 20, 40):  # Bambari: five acknowledged alerts
        add_case(places, "CF521", acknowledged_after=timedelta(minutes=minutes))
    # Acknowledged before the history kept events: acknowledged_at is read.
    add_case(places, "CF521", acknowledged_after=timedelta(minutes=100), event=False)
    add_case(places, "CF521")  # not acknowledged: not timed
    for minutes in (5, 6, 7, 8):  # Ippy: four, too few to show
        add_case(places, "CF522", acknowledged_after=timedelta(minutes=minutes))
    add_case(places, "CF522", kind=CaseKind.COMPLAINT, acknowledged_after=timedelta(minutes=1))
    with session_scope(places) as session:
        found = {(t.area.pcode if t.area else "", t.category): (t.median, t.p90)
                 for t in timings(session, 2, 5)}
        ouaka = {(t.area.pcode if t.area else "", t.category): (t.median, t.p90)
                 for t in timings(session, 1, 5)}
    # 10, 20, 30, 40, 50, 100 minutes: median 35, 90th percentile (nearest rank) 100.
    assert found == {("CF521", "recruitment"): (35 * 60.0, 100 * 60.0),
                     ("CF522", "recruitment"): (None, None)}
    # Level 1: the ten together (5, 6, 7, 8, 10, 20, 30, 40, 50, 100).
    assert ouaka == {("CF52", "recruitment"): (15 * 60.0, 50 * 60.0)}
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0


def test_areas_without_an_active_woman_child_protection_focal_point(places: Flask) -> None:
    # The standard roster: two women for Ouaka (CF52), a man for the whole country.
    with session_scope(places) as session:
        level1 = [area.pcode for area in without_woman(session, 1)]
        level2 = [area.pcode for area in without_woman(session, 2)]
    assert level1 == ["CF11", "CF61"]
    # Bangui has nothing below it: its own area; Bambari and Ippy have Ouaka's women.
    assert level2 == ["CF11", "CF611"]
    # A woman who is not child protection, or not active, or covers only part: still bare.
    deployment.add_focal_point(places, "Coordinator", "+23670000201", ["CF61"],
                               role=Role.COORDINATOR)
    deployment.add_focal_point(places, "Gone", "+23670000202", ["CF61"], active=False)
    deployment.add_focal_point(places, "Bria only", "+23670000203", ["CF611"])
    deployment.add_focal_point(places, "A man", "+23670000204", ["CF11"], gender=Gender.MALE)
    with session_scope(places) as session:
        assert [area.pcode for area in without_woman(session, 1)] == ["CF11", "CF61"]
        assert [area.pcode for area in without_woman(session, 2)] == ["CF11"]
    deployment.add_focal_point(places, "National woman", "+23670000205", ["CF"])
    with session_scope(places) as session:
        assert without_woman(session, 1) == []
