"""`gateway users add|list|disable`: the desk's accounts; never a password hash or a secret.

A user added without `--password-stdin` gets a one-time password, printed once here and to be
changed at first login. Disabling a user ends every session of theirs at once.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.orm import Session

from gateway import create_app
from gateway.desk.accounts import (
    AccountError,
    create_user,
    disable_user,
    find_user,
    is_locked,
    list_users,
)
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current
from gateway.storage.models import DeskRole, RolePolicy, User, aware

ROLES = ", ".join(role.value for role in DeskRole)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _when(user: User) -> str:
    if user.last_login_at is None:
        return "never"
    return f"{aware(user.last_login_at):%Y-%m-%d %H:%M} UTC"


def _second_factor(session: Session, user: User) -> str:
    if user.totp_secret:
        return "on"
    policy = session.get(RolePolicy, user.role)
    return "off (required: set up at next login)" if policy and policy.totp_required else "off"


def describe(session: Session, user: User) -> str:
    """Return one line about a user: who, what they see, and the state of their account."""
    places = ";".join(location.pcode for location in user.locations) or "-"
    categories = ";".join(user.categories) or "all"
    focal_point = user.focal_point.name if user.focal_point is not None else "-"
    state = "active" if user.active else "disabled"
    if user.active and is_locked(user):
        state = f"locked until {aware(user.locked_until):%H:%M} UTC"  # type: ignore[arg-type]
    return (f"{user.email}  role: {user.role}  places: {places}  categories: {categories}  "
            f"focal point: {focal_point}  {state}  second factor: "
            f"{_second_factor(session, user)}  last login: {_when(user)}")


@click.group("users")
def users_group() -> None:
    """Add, list and disable the desk's users."""


@users_group.command("add")
@click.argument("email")
@click.option("--role", required=True, help=f"One of: {ROLES}.")
@click.option("--places", required=True,
              help="P-codes, ';'-separated; a place covers everything below it.")
@click.option("--categories", default="",
              help="Categories seen, ';'-separated (default: every one of the role).")
@click.option("--focal-point", "focal_point", default=None,
              help="Phone of the focal point who is the same person (desk and SMS as one).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def add_command(email: str, role: str, places: str, categories: str, focal_point: str | None,
                password_stdin: bool) -> None:
    """Add a desk user; without --password-stdin print a one-time password."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if categories.strip().lower() == "all":
        categories = "*"
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            try:
                user, drawn = create_user(session, email, role.strip().lower(), _split(places),
                                          categories=_split(categories),
                                          focal_point_phone=focal_point, password=password)
            except AccountError as exc:
                raise click.ClickException(str(exc)) from None
            session.commit()
            click.echo(f"added {describe(session, user)}")
            if drawn is not None:
                click.echo(f"one-time password: {drawn}")
                click.echo("it is shown only now, and must be changed at first login")
    finally:
        get_engine(app).dispose()


@users_group.command("list")
def list_command() -> None:
    """List the desk's users: role, places, categories, state, second factor, last login."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            users = list_users(session)
            if not users:
                click.echo("no users yet: add one with `gateway users add`")
            for user in users:
                click.echo(describe(session, user))
    finally:
        get_engine(app).dispose()


@users_group.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable a user: they cannot log in any more, and their sessions end now."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            user = find_user(session, email)
            was_active = user is not None and user.active
            try:
                user = disable_user(session, email)
            except AccountError as exc:
                raise click.ClickException(str(exc)) from None
            session.commit()
            if was_active:
                click.echo(f"disabled {user.email}: every session of theirs has ended")
            else:
                click.echo(f"{user.email} was disabled already")
    finally:
        get_engine(app).dispose()


COMMANDS = [users_group]
