"""/admin/focal-points, /admin/places, /admin/services: list, search, deactivate, CSV upload.

Uploads go through gateway.directory.imports, the code of `gateway focal-points import` and
the other commands: the same checks, all or nothing, each problem with its line number. The
problems are the import code's own words (shared with the commands, in English).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from gateway.desk import audit
from gateway.desk.admin.common import (
    PAGE_SIZE,
    admin_only,
    bp,
    offset,
    page_number,
    role_labels,
    split_page,
)
from gateway.desk.i18n import _, ngettext
from gateway.desk.session import db_user
from gateway.directory.imports import (
    FOCAL_POINT_COLUMNS,
    LOCATION_COLUMNS,
    SERVICE_COLUMNS,
    ImportFailed,
    ImportReport,
    deactivate_phone,
    import_focal_points,
    import_locations,
    import_services,
    roster_warnings,
)
from gateway.storage.db import session_scope
from gateway.storage.models import FocalPoint, Location, Service, ServiceKind, utcnow

# Problems listed on the page at most; the rest are counted (a broken file can have thousands).
MAX_ERRORS_SHOWN = 200
# What a phone number may be typed with: dropped before searching.
PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
PHONE_PART = re.compile(r"\+?\d{3,}")

Importer = Callable[[Session, IO[bytes], bool], ImportReport]


def _query_text() -> str:
    return request.args.get("q", "").strip()[:100]


def _place_code(q: str) -> Any:
    """Match a row covering a place whose p-code starts with q (CF52: Ouaka and below)."""
    return Location.pcode.istartswith(q, autoescape=True)


def _phone_text(q: str) -> str | None:
    """Return q as the part of a stored number it may be (+236 70 -> +23670), else None."""
    digits = PHONE_SEPARATORS.sub("", q)
    return digits if PHONE_PART.fullmatch(digits) else None


def _page(db: Session, query: Select[Any], page: int) -> tuple[list[Any], bool]:
    rows = list(db.scalars(query.limit(PAGE_SIZE + 1).offset(offset(page))))
    return split_page(rows, page)


def _uploaded() -> IO[bytes] | None:
    file = request.files.get("file")
    if file is None or not file.filename:
        return None
    return file.stream  # type: ignore[return-value]


@dataclass(frozen=True)
class Problem:
    """Why an upload imported nothing: a line of the file (None: the upload itself)."""

    line: int | None
    message: str


def _upload(db: Session, importer: Importer, replace: bool) -> tuple[
        ImportReport | None, list[Problem], int]:
    """Run an import on the uploaded file: its report, or its problems (and how many)."""
    source = _uploaded()
    if source is None:
        return None, [Problem(None, _("Choose a CSV file to upload."))], 1
    try:
        report = importer(db, source, replace)
    except ImportFailed as failed:
        db.rollback()  # nothing was written; this only makes sure of it
        shown = [Problem(error.line, error.message) for error in failed.errors]
        return None, shown[:MAX_ERRORS_SHOWN], len(shown)
    return report, [], 0


def _report_lines(report: ImportReport) -> list[str]:
    lines = [ngettext("%(num)s row: %(created)s created, %(updated)s updated, "
                      "%(unchanged)s unchanged.",
                      "%(num)s rows: %(created)s created, %(updated)s updated, "
                      "%(unchanged)s unchanged.",
                      report.total, created=report.created, updated=report.updated,
                      unchanged=report.unchanged)]
    if report.replaced:
        lines.append(ngettext("%(num)s deactivated (not in the file).",
                              "%(num)s deactivated (not in the file).",
                              len(report.deactivated)))
        lines += [_("Deactivated: %(who)s", who=str(who)) for who in report.deactivated]
    return lines


# Focal points ------------------------------------------------------------------------------


def _focal_points(db: Session, q: str, page: int) -> tuple[list[FocalPoint], bool]:
    query = (select(FocalPoint).options(selectinload(FocalPoint.locations))
             .order_by(FocalPoint.name, FocalPoint.role, FocalPoint.id))
    if q:
        matches = [FocalPoint.name.icontains(q, autoescape=True),
                   FocalPoint.organisation.icontains(q, autoescape=True),
                   FocalPoint.locations.any(_place_code(q))]
        digits = _phone_text(q)
        if digits:
            matches.append(FocalPoint.phone.contains(digits, autoescape=True))
        query = query.where(or_(*matches))
    return _page(db, query, page)


def _render_focal_points(db: Session, *, status: int = 200, **upload: Any) -> tuple[str, int]:
    q, page = _query_text(), page_number()
    rows, more = _focal_points(db, q, page)
    return render_template(
        "desk/admin_focal_points.html", focal_points=rows, q=q, page=page, more=more,
        columns=",".join(FOCAL_POINT_COLUMNS), role_labels=role_labels(), **upload,
    ), status


@bp.get("/admin/focal-points")
@admin_only
def focal_points() -> tuple[str, int]:
    """List the focal points (the roster), searched by name, organisation, phone or p-code."""
    with session_scope() as db:
        return _render_focal_points(db)


@bp.post("/admin/focal-points/<int:focal_point_id>/deactivate")
@admin_only
def deactivate_focal_point(focal_point_id: int) -> Response:
    """Deactivate every role of a focal point's phone number, as the command does."""
    with session_scope() as db:
        focal_point = db.get(FocalPoint, focal_point_id)
        if focal_point is None:
            flash(_("No such focal point."), "error")
            return redirect(url_for("desk_admin.focal_points"))
        deactivated = deactivate_phone(db, focal_point.phone)
        if not deactivated:
            flash(_("%(name)s was already inactive.", name=focal_point.name))
            return redirect(url_for("desk_admin.focal_points"))
        audit.record(db, db_user(db), "focal_point_deactivated", focal_point_id=focal_point_id,
                     deactivated=[str(who) for who in deactivated])
        warnings = roster_warnings(db)
        db.commit()
    for who in deactivated:
        flash(_("Deactivated: %(who)s", who=str(who)))
    for warning in warnings:
        flash(_("Warning: %(warning)s", warning=warning), "error")
    return redirect(url_for("desk_admin.focal_points"))


@bp.post("/admin/focal-points/import")
@admin_only
def import_focal_points_page() -> tuple[str, int]:
    """Import a roster CSV file (all or nothing); `replace`: it is the whole roster."""
    replace = request.form.get("replace") == "1"
    with session_scope() as db:
        report, errors, count = _upload(
            db, lambda s, f, r: import_focal_points(s, f, replace=r), replace)
        if report is None:
            return _render_focal_points(db, status=422, errors=errors, error_count=count)
        warnings = roster_warnings(db)
        audit.record(db, db_user(db), "focal_points_imported", replace=replace,
                     created=report.created, updated=report.updated,
                     unchanged=report.unchanged, deactivated=len(report.deactivated))
        db.commit()
        return _render_focal_points(db, report=_report_lines(report), warnings=warnings)


# Places ------------------------------------------------------------------------------------


def _places(db: Session, q: str, page: int) -> tuple[list[Location], bool]:
    query = (select(Location).options(selectinload(Location.parent))
             .order_by(Location.pcode))
    if q:
        query = query.where(or_(_place_code(q), Location.name.icontains(q, autoescape=True)))
    return _page(db, query, page)


def _render_places(db: Session, *, status: int = 200, **upload: Any) -> tuple[str, int]:
    q, page = _query_text(), page_number()
    rows, more = _places(db, q, page)
    return render_template(
        "desk/admin_places.html", places=rows, q=q, page=page, more=more,
        columns=",".join(LOCATION_COLUMNS), **upload,
    ), status


@bp.get("/admin/places")
@admin_only
def places() -> tuple[str, int]:
    """List the places (p-codes) with their parents, searched by p-code or name."""
    with session_scope() as db:
        return _render_places(db)


@bp.post("/admin/places/import")
@admin_only
def import_places_page() -> tuple[str, int]:
    """Import a locations CSV file (all or nothing)."""
    with session_scope() as db:
        report, errors, count = _upload(db, lambda s, f, _r: import_locations(s, f), False)
        if report is None:
            return _render_places(db, status=422, errors=errors, error_count=count)
        audit.record(db, db_user(db), "places_imported", created=report.created,
                     updated=report.updated, unchanged=report.unchanged)
        db.commit()
        return _render_places(db, report=_report_lines(report))


# Services ----------------------------------------------------------------------------------


def _services(db: Session, q: str, page: int) -> tuple[list[Service], bool]:
    query = (select(Service).options(selectinload(Service.locations))
             .order_by(Service.name, Service.kind, Service.id))
    if q:
        matches = [Service.name.icontains(q, autoescape=True),
                   Service.locations.any(_place_code(q))]
        if q.lower() in set(ServiceKind):
            matches.append(Service.kind == ServiceKind(q.lower()))
        digits = _phone_text(q)
        if digits:
            matches.append(Service.phone.contains(digits, autoescape=True))
        query = query.where(or_(*matches))
    return _page(db, query, page)


def _render_services(db: Session, *, status: int = 200, **upload: Any) -> tuple[str, int]:
    q, page = _query_text(), page_number()
    rows, more = _services(db, q, page)
    return render_template(
        "desk/admin_services.html", services=rows, q=q, page=page, more=more,
        columns=",".join(SERVICE_COLUMNS), **upload,
    ), status


@bp.get("/admin/services")
@admin_only
def services() -> tuple[str, int]:
    """List the service directory, searched by name, kind, phone or p-code."""
    with session_scope() as db:
        return _render_services(db)


@bp.post("/admin/services/<int:service_id>/deactivate")
@admin_only
def deactivate_service(service_id: int) -> Response:
    """Deactivate a service: the end screens of reports no longer name it."""
    with session_scope() as db:
        service = db.get(Service, service_id)
        if service is None:
            flash(_("No such service."), "error")
        elif not service.active:
            flash(_("%(name)s was already inactive.", name=service.name))
        else:
            service.active = False
            service.updated_at = utcnow()
            audit.record(db, db_user(db), "service_deactivated", service_id=service_id,
                         name=service.name)
            db.commit()
            flash(_("Deactivated: %(who)s", who=service.name))
    return redirect(url_for("desk_admin.services"))


@bp.post("/admin/services/import")
@admin_only
def import_services_page() -> tuple[str, int]:
    """Import a services CSV file (all or nothing); `replace`: it is the whole directory."""
    replace = request.form.get("replace") == "1"
    with session_scope() as db:
        report, errors, count = _upload(
            db, lambda s, f, r: import_services(s, f, replace=r), replace)
        if report is None:
            return _render_services(db, status=422, errors=errors, error_count=count)
        audit.record(db, db_user(db), "services_imported", replace=replace,
                     created=report.created, updated=report.updated,
                     unchanged=report.unchanged)
        db.commit()
        return _render_services(db, report=_report_lines(report))


