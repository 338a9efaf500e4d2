"""An operator rotates the encryption key: `keys status` says when the old one may go."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import text

from gateway.commands import cases, maintenance
from gateway.storage import crypto
from gateway.storage.db import get_engine
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, TEST_SECRET, StandInAPI
from tests.test_follow_up import report

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
GATEWAY = click.Group("gateway", commands=[*maintenance.COMMANDS, *cases.COMMANDS])


def stored(app: Flask) -> list[str]:
    """Every ciphertext stored in a column marked encrypted."""
    tokens: list[str] = []
    with get_engine(app).connect() as conn:
        for entry in crypto.encrypted_columns():
            tokens += conn.execute(text(
                f"SELECT {entry.column} FROM {entry.table} WHERE {entry.column} IS NOT NULL"
            )).scalars()
    return tokens


def status(keys: list[tuple[str, int]], unreadable: int = 0) -> list[str]:
    """The first lines `keys status` prints: one per key, then what none opens."""
    def values(count: int) -> str:
        return f"{count} stored value{'' if count == 1 else 's'}"

    lines = []
    for number, (key, count) in enumerate(keys, start=1):
        name = "key 1 (newest)" if number == 1 else f"key {number}"
        lines.append(f"{name} {crypto.fingerprint(key)}: {values(count)}")
    return [*lines, f"under no configured key (unreadable): {values(unreadable)}"]


def would_re_encrypt(result: Result) -> int:
    """Sum the counts of `keys rotate --dry-run`, column by column."""
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and all(": would re-encrypt " in line for line in lines), result.output
    return sum(int(line.rsplit(" ", 1)[1]) for line in lines)


def test_an_old_key_is_removed_only_once_keys_status_shows_nothing_under_it(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
    schema: str, data_dir: Path,
) -> None:
    under_a = make_app(ENCRYPTION_KEYS=[KEY_A], AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
                       AT_API_URL=at_api.url, AT_SENDER_ID="ALERTS")
    deployment.standard(under_a)
    reference = report(under_a.test_client(), sms_later=True)
    run_jobs(under_a)
    written = len(stored(under_a))
    assert written > 0

    def gateway(keys: list[str], *args: str) -> Result:
        env = {"DATABASE_URL": schema, "GATEWAY_SECRET_KEY": TEST_SECRET,
               "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_ENCRYPTION_KEYS": ",".join(keys)}
        return CliRunner().invoke(GATEWAY, list(args), env=env)

    def status_of(keys: list[str]) -> list[str]:
        result = gateway(keys, "keys", "status")
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    # Only key A: everything is under the newest key, nothing to rotate.
    assert status_of([KEY_A])[:2] == status([(KEY_A, written)])
    assert would_re_encrypt(gateway([KEY_A], "keys", "rotate", "--dry-run")) == 0

    # Key B put first: everything still under A, which must stay.
    before = status_of([KEY_B, KEY_A])
    assert before[:3] == status([(KEY_B, 0), (KEY_A, written)])
    assert before[3] == "Run `gateway keys rotate` before removing key 2."
    assert KEY_A not in "\n".join(before) and KEY_B not in "\n".join(before)
    assert would_re_encrypt(gateway([KEY_B, KEY_A], "keys", "rotate", "--dry-run")) == written

    rotated = gateway([KEY_B, KEY_A], "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert sum(int(line.rsplit(" ", 1)[1]) for line in rotated.output.splitlines()) == written

    after = status_of([KEY_B, KEY_A])
    assert after[:3] == status([(KEY_B, written), (KEY_A, 0)])
    assert after[3].startswith("Key 2 encrypts nothing stored: it may be removed")
    assert would_re_encrypt(gateway([KEY_B, KEY_A], "keys", "rotate", "--dry-run")) == 0

    # Key A removed: every value still opens, the case still shows.
    assert status_of([KEY_B]) == [*status([(KEY_B, written)])]
    assert would_re_encrypt(gateway([KEY_B], "keys", "rotate", "--dry-run")) == 0
    only_b = make_app(ENCRYPTION_KEYS=[KEY_B])
    assert all(crypto.decrypt(token, only_b) for token in stored(only_b))
    shown = gateway([KEY_B], "cases", "show", reference)
    assert shown.exit_code == 0 and shown.output.startswith(f"case {reference}:"), shown.output


def test_keys_status_counts_what_no_configured_key_opens(
    make_app: Callable[..., Flask], schema: str, data_dir: Path,
) -> None:
    under_a = make_app(ENCRYPTION_KEYS=[KEY_A])
    deployment.standard(under_a)
    report(under_a.test_client(), sms_later=True)
    written = len(stored(under_a))
    env = {"DATABASE_URL": schema, "GATEWAY_SECRET_KEY": TEST_SECRET,
           "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_ENCRYPTION_KEYS": KEY_B}
    result = CliRunner().invoke(GATEWAY, ["keys", "status"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        *status([(KEY_B, 0)], unreadable=written),
        "Some values open with no configured key: a key was removed too early?",
    ]
