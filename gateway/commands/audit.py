"""`gateway audit`: who viewed or acted on which case on the desk, and when, newest first."""

from __future__ import annotations

import json

import click

from gateway import create_app
from gateway.desk.audit import entries
from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import require_current
from gateway.storage.models import AuditEntry, aware


def line(entry: AuditEntry) -> str:
    """Return one audit row as printed: time, user, case, action, detail."""
    detail = " ".join(f"{key}={json.dumps(value, ensure_ascii=False)}"
                      for key, value in sorted((entry.detail or {}).items()))
    return (f"{aware(entry.at):%Y-%m-%d %H:%M:%S} UTC  {entry.user_email}  "
            f"{entry.case_reference or '-'}  {entry.action}  {detail}").rstrip()


@click.command("audit")
@click.option("--case", "reference", default=None, help="Only this case (its reference).")
@click.option("--user", "email", default=None, help="Only this user (their e-mail address).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="How many rows, newest first.")
def audit_command(reference: str | None, email: str | None, limit: int) -> None:
    """Print the desk's audit trail: every case page viewed and every action, newest first."""
    app = create_app()
    try:
        require_current(app)
        with session_scope(app) as session:
            rows = entries(session, reference=reference, email=email, limit=limit)
            if not rows:
                click.echo("no audit rows")
            for entry in rows:
                click.echo(line(entry))
    finally:
        get_engine(app).dispose()


COMMANDS = [audit_command]
