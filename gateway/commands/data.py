"""Loading deployment data: locations, focal points, services, and the demo deployment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import IO, NoReturn

import click
from flask import Flask
from sqlalchemy.orm import Session

from gateway import create_app
from gateway.directory.imports import (
    PHONE_FORM,
    ImportFailed,
    ImportReport,
    deactivate_phone,
    import_focal_points,
    import_locations,
    import_services,
    normalise_phone,
    roster_warnings,
)
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current

Importer = Callable[[Session, IO[bytes]], ImportReport]

# Africa's Talking's sandbox username: messages sent there never reach a real phone.
SANDBOX_USERNAME = "sandbox"


@contextmanager
def _database() -> Iterator[tuple[Flask, Session]]:
    """Build the app from the environment, check its schema is current and open a session."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            yield app, session
    finally:
        get_engine(app).dispose()


def _fail(name: str, error: ImportFailed) -> NoReturn:
    """Print every bad row of the file to stderr and exit 1."""
    click.echo(f"{name}: {error}", err=True)
    raise SystemExit(1)


def _warn(warnings: list[str]) -> None:
    """Print what the roster leaves uncovered to stderr: advice, never a failure."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _import_one(
    file: IO[bytes], importer: Importer, singular: str, plural: str, *, roster: bool = False
) -> None:
    """Import one file, all or nothing, and print its summary (a roster: and its gaps)."""
    with _database() as (_app, session):
        try:
            report = importer(session, file)
        except ImportFailed as error:
            _fail(file.name, error)
        warnings = roster_warnings(session) if roster else []
        session.commit()
    click.echo(report.summary(singular, plural))
    _warn(warnings)


@click.group()
def locations() -> None:
    """Manage the location hierarchy (p-codes)."""


@locations.command("import")
@click.argument("file", type=click.File("rb"))
def import_locations_command(file: IO[bytes]) -> None:
    """Create or update locations from a CSV file: pcode,name,parent_pcode."""
    _import_one(file, import_locations, "location", "locations")


@click.group("focal-points")
def focal_points() -> None:
    """Manage the focal points who receive cases."""


@focal_points.command("import")
@click.option(
    "--replace",
    is_flag=True,
    help="The file is the whole roster: deactivate every focal point it leaves out.",
)
@click.argument("file", type=click.File("rb"))
def import_focal_points_command(file: IO[bytes], replace: bool) -> None:
    """Create, update or reactivate focal points from a CSV file (see README for the columns)."""

    def importer(session: Session, source: IO[bytes]) -> ImportReport:
        return import_focal_points(session, source, replace=replace)

    _import_one(file, importer, "focal point", "focal points", roster=True)


@focal_points.command("deactivate")
@click.argument("phone")
def deactivate_focal_point_command(phone: str) -> None:
    """Deactivate every role of a phone number: it receives nothing and may act on nothing."""
    # The number is never echoed back: terminal output ends up in logs.
    number = normalise_phone(phone)
    if number is None:
        click.echo(f"Nothing deactivated: the {PHONE_FORM}, e.g. +23670000001.", err=True)
        raise SystemExit(1)
    with _database() as (_app, session):
        deactivated = deactivate_phone(session, number)
        warnings = roster_warnings(session) if deactivated else []
        session.commit()
    if not deactivated:
        click.echo("Nothing deactivated: no active focal point has that number.", err=True)
        raise SystemExit(1)
    for who in deactivated:
        click.echo(f"deactivated: {who}")
    _warn(warnings)


@click.group()
def services() -> None:
    """Manage the service directory the last screens of reports name."""


@services.command("import")
@click.option(
    "--replace",
    is_flag=True,
    help="The file is the whole directory: deactivate every service it leaves out.",
)
@click.argument("file", type=click.File("rb"))
def import_services_command(file: IO[bytes], replace: bool) -> None:
    """Create or update services from a CSV file: name,kind,phone,locations,hours,languages."""

    def importer(session: Session, source: IO[bytes]) -> ImportReport:
        return import_services(session, source, replace=replace)

    _import_one(file, importer, "service", "services")


@click.command("seed-demo", short_help="Load a small demo deployment (safe to run twice).")
@click.option(
    "--force",
    is_flag=True,
    help="Load the demo even though SMS credentials (Africa's Talking or a phone) are set.",
)
def seed_demo(force: bool) -> None:
    """Load a small demo deployment of the Central African Republic (safe to run twice)."""
    demo = resources.files("gateway.directory") / "demo"
    with _database() as (app, session):
        username = app.config.get("AT_USERNAME")
        if username and username != SANDBOX_USERNAME and not force:
            # The demo numbers are made up but could belong to someone: never text them for real.
            click.echo(
                "Africa's Talking credentials are set: the demo focal points' made-up numbers "
                "could reach real people. Unset AT_USERNAME/AT_API_KEY, use the sandbox, "
                "or pass --force.",
                err=True,
            )
            raise SystemExit(1)
        if app.config.get("SMSGATE_USERNAME") and not force:
            # An Android phone with a SIM sends for real too: the same caution.
            click.echo(
                "An SMS gateway phone is set (SMSGATE_USERNAME): the demo focal points' made-up "
                "numbers could reach real people through its SIM. Unset SMSGATE_USERNAME/"
                "SMSGATE_PASSWORD, or pass --force.",
                err=True,
            )
            raise SystemExit(1)
        summaries = []
        for filename, importer, singular, plural in (
            ("locations.csv", import_locations, "location", "locations"),
            ("focal_points.csv", import_focal_points, "focal point", "focal points"),
            ("services.csv", import_services, "service", "services"),
        ):
            with (demo / filename).open("rb") as file:
                try:
                    report = importer(session, file)
                except ImportFailed as error:
                    _fail(f"demo/{filename}", error)
            summaries.append(report.summary(singular, plural))
        warnings = roster_warnings(session)
        session.commit()
    for line in summaries:
        click.echo(line)
    _warn(warnings)


COMMANDS = [locations, focal_points, services, seed_demo]
