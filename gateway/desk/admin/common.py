"""What every administration page shares: the blueprint, the role check, paging, upload limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.desk.i18n import _
from gateway.desk.session import login_required
from gateway.storage.models import DeskRole, aware

bp = Blueprint("desk_admin", __name__)

F = TypeVar("F", bound=Callable[..., Any])

PAGE_SIZE = 50
# A body larger than this is refused before it is read: a roster of a few thousand rows is a
# few hundred kB. GATEWAY settings may lower or raise it (DESK_UPLOAD_MAX_BYTES).
UPLOAD_LIMIT = 2 * 1024 * 1024


def admin_only(view: F) -> F:
    """Let only a logged-in admin open the page (anyone else: log in, or 404)."""
    return login_required(DeskRole.ADMIN)(view)


def the_app() -> Flask:
    """Return the app itself (what workers.enqueue takes), not the request's proxy."""
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def upload_limit() -> int:
    """Return the largest request body an administration page accepts, in bytes."""
    return int(current_app.config.get("DESK_UPLOAD_MAX_BYTES") or UPLOAD_LIMIT)


@bp.url_value_preprocessor
def _limit_body(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before every before_request function: the desk's CSRF check reads the form, so a
    # limit set later would come after the whole body was read.
    limit = upload_limit()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        abort(413)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> tuple[str, int]:
    megabytes = f"{upload_limit() / (1024 * 1024):g}"
    return render_template("desk/admin_error.html", title=_("File too large"),
                           message=_("The file is too large: at most %(size)s MB.",
                                     size=megabytes)), 413


def page_number() -> int:
    """Return the page asked for (`page`, from 1)."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)


def split_page(rows: list[Any], page: int) -> tuple[list[Any], bool]:
    """Return a page's rows (fetched with one extra) and whether a next page exists."""
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def offset(page: int) -> int:
    """Return the first row of a page."""
    return (page - 1) * PAGE_SIZE


@bp.app_template_filter("admin_time")
def admin_time(moment: datetime | None) -> str:
    """Write a time as the administration pages show it (UTC, to the minute)."""
    if moment is None:
        return ""
    return aware(moment).strftime("%Y-%m-%d %H:%M UTC")


def role_labels() -> dict[str, str]:
    """Return each desk role's name (focal points' roles among them) in the page's language."""
    return {
        DeskRole.CHILD_PROTECTION: _("Child protection"),
        DeskRole.CONDUCT: _("Conduct"),
        DeskRole.ASSISTANCE: _("Assistance"),
        DeskRole.SERVICES: _("Services"),
        DeskRole.COORDINATOR: _("Coordinator"),
        DeskRole.TRIAGE: _("Triage"),
        DeskRole.ADMIN: _("Administrator"),
    }
