"""/cases: the user's cases, newest first, filtered, 25 a page, with counts at the top."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import and_, func, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session, aliased, selectinload

from gateway.desk import scope
from gateway.desk.cases.common import (
    CASE_ROLES,
    CATEGORY_LABELS,
    STATE_LABELS,
    URGENCY_LABELS,
    bp,
    label,
    state_of,
    urgency_of,
)
from gateway.desk.i18n import _, current_language
from gateway.desk.session import db_user, login_required
from gateway.storage.db import session_scope
from gateway.storage.models import (
    CATEGORIES,
    Case,
    CaseLink,
    Location,
    User,
    aware,
    utcnow,
)

PAGE_SIZE = 25
PLACE_OPTIONS_MAX = 200  # more places than this: the place filter is typed as a p-code

STATES = ("open", "unacknowledged", "acknowledged", "escalated", "closed", "all")
URGENCIES = ("urgent", "not_urgent", "unknown")


@dataclass(frozen=True)
class Filters:
    """The list's GET filters, checked: anything not understood is left out."""

    state: str = "open"
    category: str = ""
    place: str = ""
    urgency: str = ""
    waiting: int | None = None
    duplicates: bool = False
    page: int = 1

    @classmethod
    def read(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters from a query string."""
        state = args.get("state", "open")
        category = args.get("category", "")
        urgency = args.get("urgency", "")
        waiting = args.get("waiting", "").strip()
        page = args.get("page", "1")
        return cls(
            state=state if state in STATES else "open",
            category=category if category in CATEGORIES else "",
            place=args.get("place", "").strip()[:32],
            urgency=urgency if urgency in URGENCIES else "",
            waiting=int(waiting) if waiting.isdigit() and int(waiting) < 100000 else None,
            duplicates=args.get("duplicates") == "1",
            page=int(page) if page.isdigit() and 0 < int(page) < 100000 else 1,
        )

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """Return the filters as URL arguments (defaults left out), with changes."""
        values = {**asdict(self), **changes}
        values["duplicates"] = "1" if values["duplicates"] else ""
        return {key: value for key, value in values.items()
                if value not in ("", None) and not (key == "page" and value == 1)}


def _open() -> Any:
    return Case.closed_at.is_(None)


def _unacknowledged() -> Any:
    return and_(_open(), Case.acknowledged_at.is_(None))


def _escalated() -> Any:
    return and_(_unacknowledged(), Case.escalation_stage > 0)


STATE_CONDITIONS: dict[str, Callable[[], Any]] = {
    "open": _open,
    "unacknowledged": _unacknowledged,
    "acknowledged": lambda: and_(_open(), Case.acknowledged_at.is_not(None)),
    "escalated": _escalated,
    "closed": lambda: Case.closed_at.is_not(None),
}


def _places_below(pcode: str) -> Any:
    """Return a query of the ids of a place and every place below it."""
    tree = select(Location.id).where(Location.pcode == pcode).cte("below", recursive=True)
    child = aliased(Location)
    tree = tree.union_all(select(child.id).where(child.parent_id == tree.c.id))
    return select(tree.c.id)


def _has_link() -> Any:
    """A case flagged as a possible (or confirmed) duplicate of an earlier case of its kind."""
    other = aliased(Case)
    return (select(CaseLink.id).join(other, other.id == CaseLink.other_case_id)
            .where(CaseLink.case_id == Case.id, other.kind == Case.kind).exists())


def filtered(db: Session, user: User, filters: Filters) -> Any:
    """Return the user's cases narrowed by the filters, newest first."""
    query = scope.cases(db, user)
    if filters.state in STATE_CONDITIONS:
        query = query.where(STATE_CONDITIONS[filters.state]())
    if filters.category:
        query = query.where(Case.category == filters.category)
    if filters.place:
        query = query.where(Case.location_id.in_(_places_below(filters.place)))
    if filters.urgency == "urgent":
        query = query.where(Case.urgent.is_(True))
    elif filters.urgency == "not_urgent":
        query = query.where(Case.urgent.is_(False))
    elif filters.urgency == "unknown":
        query = query.where(Case.urgent.is_(None))
    if filters.waiting is not None:
        query = query.where(_unacknowledged(),
                            Case.created_at <= utcnow() - timedelta(hours=filters.waiting))
    if filters.duplicates:
        query = query.where(_has_link())
    return query.order_by(Case.created_at.desc(), Case.id.desc())


def counts(db: Session, user: User) -> dict[str, int]:
    """Return how many of the user's cases are open, not acknowledged, escalated."""
    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(when((condition, 1), else_=0)), 0)

    row = db.execute(select(total(_open()), total(_unacknowledged()), total(_escalated()))
                     .where(scope.visible(db, user))).one()
    return {"open": int(row[0]), "unacknowledged": int(row[1]), "escalated": int(row[2])}


def place_options(db: Session, user: User) -> list[tuple[str, str]] | None:
    """Return (p-code, name) of the user's places and those below; None when too many."""
    rows = db.execute(select(Location.pcode, Location.name, Location.names)
                      .where(Location.id.in_(scope.place_ids(db, user)))
                      .order_by(Location.pcode).limit(PLACE_OPTIONS_MAX + 1)).all()
    if len(rows) > PLACE_OPTIONS_MAX:
        return None
    lang = current_language()
    return [(pcode, (names or {}).get(lang) or name) for pcode, name, names in rows]


def _waiting(case: Case, now: datetime) -> int | None:
    if case.closed_at is not None or case.acknowledged_at is not None:
        return None
    return int((now - aware(case.created_at)).total_seconds() // 3600)


@bp.get("/cases")
@login_required(*CASE_ROLES)
def index() -> str:
    """List the user's cases, newest first, filtered and paged, with counts at the top."""
    filters = Filters.read(request.args)
    lang = current_language()
    with session_scope() as db:
        user = db_user(db)
        query = filtered(db, user, filters).options(selectinload(Case.location))
        found = list(db.scalars(query.offset((filters.page - 1) * PAGE_SIZE)
                                .limit(PAGE_SIZE + 1)))
        more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
        linked = set(db.scalars(select(Case.id).where(
            Case.id.in_([case.id for case in found]), _has_link()))) if found else set()
        now = utcnow()
        rows = [{
            "reference": case.reference, "received": case.created_at,
            "category": label(CATEGORY_LABELS, case.category),
            "place": case.location.name_in(lang) if case.location else _("Not known"),
            "urgency": urgency_of(case), "urgency_label": label(URGENCY_LABELS, urgency_of(case)),
            "state": state_of(case), "waiting": _waiting(case, now),
            "duplicate": case.id in linked,
        } for case in found]
        categories = sorted(db.scalars(select(Case.category).where(
            scope.visible(db, user)).distinct()))
        page = {
            "rows": rows, "counts": counts(db, user), "filters": filters,
            "places": place_options(db, user),
            "categories": [(code, label(CATEGORY_LABELS, code)) for code in categories],
            "states": [(code, label(STATE_LABELS, code)) for code in STATES],
            "urgencies": [(code, label(URGENCY_LABELS, code)) for code in URGENCIES],
            "next": url_for(".index", **filters.query_args(page=filters.page + 1))
            if more else None,
            "previous": url_for(".index", **filters.query_args(page=filters.page - 1))
            if filters.page > 1 else None,
        }
    return render_template("desk/cases.html", **page)


