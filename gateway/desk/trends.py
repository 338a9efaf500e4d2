"""The trends page (/trends): alerts of the user's places by area, category and month.

Coordinators and admins only. The same table as `gateway trends`, with the same suppression,
limited to the user's places (gateway.desk.scope) and categories; a bar chart drawn on the server
as SVG (no script: the page's CSP allows none inline); the time to first acknowledgement per area
and category; the areas with no woman child-protection focal point. Nothing here names a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session

from flows.i18n import N_
from gateway.desk import scope
from gateway.desk.cases.common import CATEGORY_LABELS, label
from gateway.desk.i18n import _, current_language
from gateway.desk.session import db_user, login_required
from gateway.storage.db import session_scope
from gateway.storage.models import DeskRole, User, utcnow
from gateway.trends.coverage import without_woman
from gateway.trends.places import Place, PlaceTree
from gateway.trends.suppress import DEFAULT_THRESHOLD, shown
from gateway.trends.table import Scope, count, shown_totals, suppressed_rows
from gateway.trends.timing import timings

bp = Blueprint("desk_trends", __name__)

# The months shown: the last 3, the last 12, or every month.
SPANS: dict[str, int | None] = {"3": 3, "12": 12, "all": None}
DEFAULT_SPAN = "12"
SPAN_LABELS = {"3": N_("Last 3 months"), "12": N_("Last 12 months"), "all": N_("All months")}

# The chart's frame, in SVG user units.
CHART_HEIGHT = 160
BAR_WIDTH = 28
BAR_GAP = 14
CHART_LEFT = 36
CHART_TOP = 18
CHART_BOTTOM = 34


@dataclass(frozen=True)
class Bar:
    """One month of the chart, placed."""

    month: str
    value: int
    x: int
    y: int
    height: int
    label_x: int


def months_ago(now: datetime, months: int) -> datetime:
    """Return the first moment of the month `months - 1` months before now's (UTC)."""
    total = now.year * 12 + (now.month - 1) - (months - 1)
    return now.replace(year=total // 12, month=total % 12 + 1, day=1, hour=0, minute=0,
                       second=0, microsecond=0)


def chart(totals: dict[str, int]) -> dict[str, Any]:
    """Place the bars of the cases shown per month (hidden cells left out)."""
    top = max(totals.values(), default=0) or 1
    bars = []
    for index, (month, value) in enumerate(totals.items()):
        height = round(value * CHART_HEIGHT / top)
        x = CHART_LEFT + BAR_GAP + index * (BAR_WIDTH + BAR_GAP)
        bars.append(Bar(month, value, x, CHART_TOP + CHART_HEIGHT - height, height,
                        x + BAR_WIDTH // 2))
    width = CHART_LEFT + BAR_GAP + len(bars) * (BAR_WIDTH + BAR_GAP)
    return {"bars": bars, "width": max(width, 200), "top": top,
            "height": CHART_TOP + CHART_HEIGHT + CHART_BOTTOM,
            "base": CHART_TOP + CHART_HEIGHT, "left": CHART_LEFT, "chart_top": CHART_TOP}


def duration(seconds: float | None, threshold: int) -> str:
    """Show a time to acknowledgement in minutes, hours or days; "<5" when hidden."""
    if seconds is None:
        return f"<{threshold}"
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(minutes)s min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(hours)s h %(minutes)02d min", hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return _("%(days)s d %(hours)s h", days=days, hours=hours)


def _level(value: str, deepest: int) -> int:
    return int(value) if value.isdigit() and 1 <= int(value) <= deepest else 1


def user_scope(db: Session, user: User, since: datetime | None) -> Scope:
    """Return what the user's trends count: their places and categories."""
    seen = scope.categories_seen(user)
    return Scope(
        places=frozenset(db.scalars(scope.place_ids(db, user))),
        unplaced=scope.covers_top(db, user),
        categories=frozenset(seen) if seen is not None else None,
        since=since,
    )


@bp.get("/trends")
@login_required(DeskRole.COORDINATOR, DeskRole.ADMIN)
def index() -> str:
    """Show the user's trends: the table, the chart, acknowledgement times, bare areas."""
    lang = current_language()
    threshold = DEFAULT_THRESHOLD
    span = request.args.get("period", DEFAULT_SPAN)
    span = span if span in SPANS else DEFAULT_SPAN
    months = SPANS[span]
    with session_scope() as db:
        user = db_user(db)
        tree = PlaceTree.load(db)
        deepest = max((tree.depth(place_id) for place_id in tree.places), default=1) or 1
        level = _level(request.args.get("level", "1"), deepest)
        since = months_ago(utcnow(), months) if months is not None else None
        where = user_scope(db, user, since)

        def name(place: Place | None) -> str:
            return place.name_in(lang) if place is not None else _("Not known")

        table = count(db, level, where, tree)
        rows = suppressed_rows(table, threshold, name=name, not_known=_("Not known"))
        for row in rows:
            row["category_label"] = label(CATEGORY_LABELS, row["category"])
        waits = [{
            "place": name(timing.area), "pcode": timing.area.pcode if timing.area else "",
            "category": label(CATEGORY_LABELS, timing.category),
            "median": duration(timing.median, threshold),
            "p90": duration(timing.p90, threshold),
        } for timing in timings(db, level, threshold, where, tree)]
        bare = [(area.pcode, name(area))
                for area in without_woman(db, level, where.places, tree)]
        totals = shown_totals(table, threshold)
    page = {
        "rows": rows, "waits": waits, "bare": bare, "chart": chart(totals),
        "hidden_label": shown(1, threshold), "threshold": threshold,
        "level": level, "levels": list(range(1, deepest + 1)),
        "span": span, "spans": [(code, _(SPAN_LABELS[code])) for code in SPANS],
    }
    return render_template("desk/trends.html", **page)
