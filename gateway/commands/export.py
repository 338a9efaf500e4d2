"""`gateway export cases`: the MRM minimal dataset of every alert, as CSV or JSON.

For deployments without Primero access. Alerts only (never complaints or help requests), coded
answers only: never the reporter's words nor anything about who reported. Columns:
docs/primero.md.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import Any

import click

from gateway import create_app
from gateway.partners.mrm import COLUMNS, alerts, dataset_row
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current


@click.group("export")
def export_group() -> None:
    """Export data for partners (docs/primero.md)."""


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@export_group.command("cases")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="CSV with a header line, or a JSON list of objects.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Only alerts received on or after this day (YYYY-MM-DD, UTC).")
def cases_command(fmt: str, since: datetime | None) -> None:
    """Print the MRM minimal dataset of every alert, oldest first."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            rows = [dataset_row(case) for case in
                    session.scalars(alerts(since.date() if since else None)).unique()]
    finally:
        get_engine(app).dispose()
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row[column]) for column in COLUMNS])


COMMANDS = [export_group]
