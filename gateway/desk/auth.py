"""(being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("desk_auth", __name__)


@bp.get("/login")
def login() -> str:
    return "auth"


@bp.post("/logout")
def logout() -> str:
    return "out"


@bp.get("/password")
def password() -> str:
    return "password"
