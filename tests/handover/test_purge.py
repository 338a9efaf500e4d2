"""`gateway purge --everything`: refused unless confirmed; then empty tables and a proof."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from gateway.handover.purge import table_counts
from gateway.storage.db import get_engine
from tests.conftest import StandInAPI
from tests.handover.test_handover import gateway_cli, run  # noqa: F401 - the fixture
from tests.test_complaints import with_conduct
from tests.test_follow_up import report


@pytest.fixture
def full(app: Flask, client: FlaskClient, run_jobs: Callable[..., None],
         at_api: StandInAPI, redis_connection: Redis, data_dir: Path) -> dict[str, int]:
    """A gateway with a routed case, Redis keys of its own and another's, a spooled file."""
    with_conduct(app)
    report(client, sms_later=True)
    run_jobs()
    redis_connection.set("gateway:test-marker", "1")
    redis_connection.set("someone-else:key", "theirs")
    (data_dir / "spool").mkdir(exist_ok=True)
    (data_dir / "spool" / "case-left-behind.json").write_text("{}")
    counts = table_counts(get_engine(app))
    assert counts["cases"] == 1 and counts["focal_points"] == 6
    return counts


def test_purge_everything_refuses_without_confirmation_and_deletes_nothing(
    app: Flask, full: dict[str, int], gateway_cli: click.Group,  # noqa: F811
    redis_connection: Redis,
) -> None:
    for stdin in (None, "", "yes\n", "delete everything\n"):
        result = run(gateway_cli, "purge", "--everything", stdin=stdin)
        assert result.exit_code == 1, result.output
        assert "Type " in result.output
    assert table_counts(get_engine(app)) == full
    assert redis_connection.get("gateway:test-marker") == b"1"


def test_purge_everything_typed_word_empties_every_table_and_prints_a_proof(
    app: Flask, full: dict[str, int], gateway_cli: click.Group,  # noqa: F811
    redis_connection: Redis, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gateway.commands.handover.confirmation_word", lambda: "cedar-417")
    proof_file = tmp_path / "proof.txt"
    result = run(gateway_cli, "purge", "--everything", "--proof", str(proof_file),
                 stdin="cedar-417\n")
    assert result.exit_code == 0, result.output
    assert set(table_counts(get_engine(app)).values()) == {0}
    # Only the gateway's keys and files: another application's key stays.
    assert redis_connection.get("gateway:test-marker") is None
    assert redis_connection.get("someone-else:key") == b"theirs"
    assert not (data_dir / "spool" / "case-left-behind.json").exists()

    proof = proof_file.read_text()
    assert proof in result.output
    lines = proof.splitlines()
    assert lines[0] == "gateway purge --everything: proof of destruction"
    assert re.search(r"^cases\s+1\s+0$", proof, re.M)
    assert re.search(r"^focal_points\s+6\s+0$", proof, re.M)
    assert re.search(rf"^rows: {sum(full.values())} before, 0 after$", proof, re.M)
    assert re.search(r"^gateway:\*\s+[1-9]\d*\s+0$", proof, re.M)
    assert "case-left-behind.json" in proof
    digest = lines[-1].removeprefix("sha256 of the lines above: ")
    assert digest == hashlib.sha256("\n".join(lines[:-1]).encode()).hexdigest()


def test_purge_everything_for_scripts_and_the_retention_purge_unchanged(
    app: Flask, full: dict[str, int], gateway_cli: click.Group,  # noqa: F811
) -> None:
    retention = run(gateway_cli, "purge", "--dry-run")
    assert retention.exit_code == 0, retention.output
    assert "would remove" in retention.output or "nothing to purge" in retention.output
    assert table_counts(get_engine(app)) == full
    assert run(gateway_cli, "purge", "--yes-i-understand").exit_code == 2  # --everything only
    result = run(gateway_cli, "purge", "--everything", "--yes-i-understand")
    assert result.exit_code == 0, result.output
    assert "sha256 of the lines above: " in result.output
    assert set(table_counts(get_engine(app)).values()) == {0}
