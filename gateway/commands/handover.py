"""`gateway handover`, `gateway archive`, and what `gateway purge --everything` does
(the `purge` command itself is in maintenance.py; see docs/handover.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway import create_app
from gateway.handover.archive import ArchiveError, ArchiveInvalid, verify, write
from gateway.handover.handover import (
    HandoverError,
    HandoverPlan,
    HandoverRefused,
    hand_over,
)
from gateway.handover.purge import confirmation_word, purge_everything
from gateway.storage.db import get_engine
from gateway.storage.migrate import require_current

# --- handover -----------------------------------------------------------------------------------


def plan_lines(plan: HandoverPlan, not_done: str | None = None) -> list[str]:
    """Return what a handover did, or would do (`not_done` says why not), counts first, then
    what finds no one."""
    moved = [move for move in plan.cases if move.to_ids or not move.nobody_for]
    lines = [
        f"Handover from {plan.from_org} to {plan.to_org}"
        + (f" ({not_done}: nothing changed)" if not_done else ""),
        f"focal points of {plan.from_org} "
        f"{'to deactivate' if not_done else 'deactivated'}: {len(plan.leaving)}",
        f"open cases: {len(plan.cases)}; handed over: {len(moved)}; "
        f"finding no one for some role: {len(plan.cases_finding_no_one)}",
        f"pending escalations kept armed: "
        f"{sum(1 for move in plan.cases if move.escalation_pending)}",
        f"SMS to {plan.from_org} not sent yet, stopped: {plan.pending_messages}",
        f"coverage (place, role): {len(plan.coverage)}; covered by {plan.to_org}: "
        f"{len(plan.coverage) - len(plan.bare)}; finding no one: {len(plan.bare)}",
    ]
    for move in plan.cases:
        to = ", ".join(move.to_names) or "no one"
        lines.append(f"  case {move.reference} -> {to}")
    for cover in plan.coverage:
        lines.append(f"  place {cover.pcode} {cover.name}, role {cover.role} -> "
                     f"{', '.join(cover.successors) or 'no one'}")
    if plan.cases_finding_no_one or plan.bare:
        lines.append("Finds no one (listed, not dropped):")
        for move in plan.cases_finding_no_one:
            alone = "; no active recipient left: unassigned" if move.left_alone else ""
            lines.append(f"  case {move.reference}: role {', '.join(move.nobody_for)}{alone}")
        for gap in plan.bare:
            lines.append(f"  place {gap.describe()}")
    if plan.no_woman:
        lines.append("No woman covers these any more (girls and sexual violence):")
        lines += [f"  place {gap.pcode} {gap.name}, role {gap.role}" for gap in plan.no_woman]
    return lines


@click.command("handover")
@click.option("--from-organisation", "from_org", required=True,
              help="The organisation that leaves (FocalPoint.organisation).")
@click.option("--to-organisation", "to_org", required=True,
              help="The organisation that takes its cases and places over.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
def handover_command(from_org: str, to_org: str, dry_run: bool) -> None:
    """Move an organisation's open cases, coverage and escalations to another one's."""
    app = create_app()
    try:
        require_current(app)
        plan = hand_over(app, from_org, to_org, dry_run=dry_run)
    except HandoverRefused as exc:
        for line in plan_lines(exc.plan, "refused"):
            click.echo(line)
        click.echo("Refused, nothing changed: complaints would reach no `conduct` focal "
                   "point in these places:", err=True)
        for gap in exc.plan.stranded:
            click.echo(f"  {gap.describe()}", err=True)
        sys.exit(1)
    except HandoverError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        get_engine(app).dispose()
    for line in plan_lines(plan, "dry run" if dry_run else None):
        click.echo(line)


# --- archive ------------------------------------------------------------------------------------


def _passphrase(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.ClickException("no passphrase on standard input")
    return line


def _identities(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip().startswith("AGE-SECRET-KEY-")]


@click.command("archive")
@click.option("--to", "target", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the encrypted archive to this file.")
@click.option("--verify", "checked", type=click.Path(path_type=Path, dir_okay=False,
                                                       exists=True),
              help="Decrypt this archive and check it against its manifest.")
@click.option("--passphrase-stdin", is_flag=True,
              help="Read the passphrase from the first line of standard input.")
@click.option("--recipient", "recipients", multiple=True,
              help="Encrypt to this age public key (age1...); repeat for several.")
@click.option("--identity", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="With --verify: an age identity file (AGE-SECRET-KEY-1...).")
@click.option("--without-notes", is_flag=True,
              help="Leave the desk's notes out (by default they are decrypted into it).")
def archive_command(target: Path | None, checked: Path | None, passphrase_stdin: bool,
                    recipients: tuple[str, ...], identity: Path | None,
                    without_notes: bool) -> None:
    """Write everything a successor needs to one encrypted file, or verify such a file."""
    if (target is None) == (checked is None):
        raise click.UsageError("give either --to FILE or --verify FILE")
    passphrase = _passphrase(passphrase_stdin)
    if checked is not None:
        _verify(checked, passphrase, _identities(identity))
        return
    assert target is not None
    if bool(passphrase) == bool(recipients):
        raise click.UsageError("give either --passphrase-stdin or --recipient")
    app = create_app()
    try:
        require_current(app)
        manifest = write(app, target, passphrase=passphrase, recipients=recipients,
                         include_notes=not without_notes)
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        get_engine(app).dispose()
    click.echo(f"archive written: {target}")
    _print_counts(manifest)


def _print_counts(manifest: dict[str, object]) -> None:
    click.echo(f"schema revision: {manifest.get('schema_revision')}; "
               f"created at: {manifest.get('created_at')}; notes: {manifest.get('notes')}")
    counts = manifest.get("counts")
    for name, count in (counts.items() if isinstance(counts, dict) else []):
        click.echo(f"{name}: {count}")


def _verify(path: Path, passphrase: str | None, identities: list[str]) -> None:
    if not passphrase and not identities:
        raise click.UsageError("--verify needs --passphrase-stdin or --identity")
    try:
        verified = verify(path, passphrase=passphrase, identities=identities)
    except ArchiveInvalid as exc:
        click.echo(f"archive NOT valid: {exc}", err=True)
        sys.exit(1)
    click.echo(f"archive valid: {path}, {len(verified.parts)} parts match their sha256")
    _print_counts(verified.manifest)


# --- purge --------------------------------------------------------------------------------------


def destroy_everything(confirmed: bool, proof: Path | None) -> None:
    """`gateway purge --everything`: destroy all the gateway's data and print the proof."""
    app = create_app()
    try:
        require_current(app)
        if not confirmed:
            word = confirmation_word()
            click.echo("This deletes every case, focal point, user, note and audit row of this "
                       "gateway, its Redis keys and spool, for good.")
            typed = click.prompt(f"Type {word} to destroy everything", default="",
                                 show_default=False)
            if typed.strip() != word:
                click.echo("Refused: the word was not typed. Nothing was deleted.", err=True)
                sys.exit(1)
        result = purge_everything(app)
    finally:
        get_engine(app).dispose()
    click.echo(result.text, nl=False)
    if proof is not None:
        proof.write_text(result.text)
    if not app.config.get("EMBEDDED"):
        click.echo("Now destroy GATEWAY_SECRET_KEY and GATEWAY_ENCRYPTION_KEYS where they are "
                   "kept, and the database's backups (docs/handover.md).")
    if any(result.tables_after.values()):
        click.echo("Some rows remain: see the table above.", err=True)
        sys.exit(1)


COMMANDS = [handover_command, archive_command]
