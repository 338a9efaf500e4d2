"""`gateway trends`: alerts by place, category and month, small cells hidden, to share.

Prints `place_pcode,place_name,category,month,cases,girls,boys,unknown`; every count from 1 to
the threshold - 1 (default 5, never below 3) is printed `<5`. Alerts only: complaints and help
requests never appear. The rules are in gateway/trends/__init__.py.
"""

from __future__ import annotations

import csv
import io
import json

import click

from gateway import create_app
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current
from gateway.trends.suppress import DEFAULT_THRESHOLD, ThresholdTooLow, check_threshold
from gateway.trends.table import COLUMNS, count, suppressed_rows

PERIODS = ("month",)
FORMATS = ("csv", "json")


def _threshold(_ctx: click.Context, _param: click.Parameter, value: int) -> int:
    try:
        return check_threshold(value)
    except ThresholdTooLow as exc:
        raise click.BadParameter(str(exc)) from exc


def render(rows: list[dict[str, int | str]], fmt: str) -> str:
    """Write the rows as CSV (the header first) or as a JSON list."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@click.command("trends")
@click.option("--level", type=click.IntRange(min=1), default=1, show_default=True,
              help="Depth in the place hierarchy: 1 is the level below the country.")
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True,
              help="How cases are grouped in time (month only).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv, or json (the same rows).")
@click.option("--suppress", "threshold", type=int, default=DEFAULT_THRESHOLD,
              show_default=True, callback=_threshold,
              help="Counts from 1 to this minus 1 are printed <N (3 at least).")
def trends_command(level: int, period: str, fmt: str, threshold: int) -> None:
    """Print alerts by place, category and month; small counts hidden, never a complaint."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            table = count(session, level)
        click.echo(render(suppressed_rows(table, threshold), fmt), nl=False)
    finally:
        get_engine(app).dispose()


COMMANDS = [trends_command]
