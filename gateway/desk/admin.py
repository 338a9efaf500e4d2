"""(being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("desk_admin", __name__)


@bp.get("/admin")
def index() -> str:
    return "admin"
