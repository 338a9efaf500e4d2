"""(being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("desk_cases", __name__)


@bp.get("/cases")
def index() -> str:
    return "cases"
