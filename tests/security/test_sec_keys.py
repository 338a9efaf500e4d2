"""Keys from the environment, refused when weak; rotation keeps old data readable and linked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import text

from gateway.commands import _register, cli
from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.privacy.pseudonyms import pseudonym
from gateway.storage import crypto
from gateway.storage.db import get_engine, session_scope
from gateway.storage.models import Reporter
from tests.caller import Caller
from tests.conftest import TEST_SECRET

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
_register()
PRODUCTION = {"DATABASE_URL": "postgresql://db/gateway", "GATEWAY_SECRET_KEY": TEST_SECRET}


@pytest.mark.parametrize(
    ("keys", "refusal"),
    [
        (None, "GATEWAY_ENCRYPTION_KEYS is required"),
        ("", "GATEWAY_ENCRYPTION_KEYS is required"),
        ("short", "refused"),
        ("A" * 43 + "=", "not random enough"),
        (f"{NEW_KEY},changeme", "key 2 is refused"),
    ],
    ids=["unset", "empty", "short", "not-random", "second-weak"],
)
def test_production_refuses_a_missing_default_or_short_encryption_key(
    keys: str | None, refusal: str, tmp_path: Path
) -> None:
    env = {**PRODUCTION, "GATEWAY_DATA_DIR": str(tmp_path)}
    if keys is not None:
        env["GATEWAY_ENCRYPTION_KEYS"] = keys
    with pytest.raises(ConfigError, match=refusal):
        load_config(env)


def test_weak_previous_secret_keys_are_refused(tmp_path: Path) -> None:
    env = {**PRODUCTION, "GATEWAY_ENCRYPTION_KEYS": NEW_KEY,
           "GATEWAY_PREVIOUS_SECRET_KEYS": "changeme", "GATEWAY_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="GATEWAY_PREVIOUS_SECRET_KEYS"):
        load_config(env)


def test_the_command_refuses_to_start_without_keys(tmp_path: Path) -> None:
    env = {**PRODUCTION, "GATEWAY_ENCRYPTION_KEYS": "", "GATEWAY_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["purge", "--dry-run"], env=env)
    assert isinstance(result.exception, ConfigError)
    assert "GATEWAY_ENCRYPTION_KEYS" in str(result.exception)

    result = CliRunner().invoke(cli, ["purge", "--dry-run"], env=env)
    assert isinstance(result.exception, ConfigError)
    assert "GATEWAY_ENCRYPTION_KEYS" in str(result.exception)


def test_the_embedded_default_keeps_a_generated_key(tmp_path: Path) -> None:
    env = {"GATEWAY_DATA_DIR": str(tmp_path)}
    first = load_config(env)["ENCRYPTION_KEYS"]
    assert first == load_config(env)["ENCRYPTION_KEYS"] and crypto.check_key(first[0]) is None
    assert (tmp_path / "encryption_key").stat().st_mode & 0o077 == 0


def test_old_ciphertexts_still_decrypt_and_new_ones_use_the_new_key(
    make_app: Callable[..., Flask],
) -> None:
    old_app = make_app(ENCRYPTION_KEYS=[OLD_KEY])
    old_token = crypto.encrypt("+243970001234", old_app)
    rotated = make_app(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY])
    assert crypto.decrypt(old_token, rotated) == "+243970001234"
    new_token = crypto.encrypt("+243970001234", rotated)
    assert Fernet(NEW_KEY.encode()).decrypt(new_token.encode()) == b"+243970001234"
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(new_token, old_app)


def test_keys_rotate_re_encrypts_registered_columns(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    old_app = make_app(DATABASE_URL=url, ENCRYPTION_KEYS=[OLD_KEY])
    with get_engine(old_app).begin() as conn:
        conn.execute(text("CREATE TABLE extra_numbers (id INTEGER PRIMARY KEY, number TEXT)"))
        for number in ("+243970001234", "+243970005678"):
            conn.execute(text("INSERT INTO extra_numbers (number) VALUES (:n)"),
                         {"n": crypto.encrypt(number, old_app)})
        conn.execute(text("INSERT INTO extra_numbers (number) VALUES (NULL)"))
    monkeypatch.setattr(crypto, "encrypted_columns", lambda: [
        crypto.EncryptedColumn("extra_numbers", "number"),
        crypto.EncryptedColumn("not_there_yet", "number"),
    ])
    env = {"DATABASE_URL": url, "GATEWAY_SECRET_KEY": TEST_SECRET,
           "GATEWAY_ENCRYPTION_KEYS": f"{NEW_KEY},{OLD_KEY}", "GATEWAY_DATA_DIR": str(tmp_path),
           "REDIS_URL": _redis_url(old_app)}
    migrated = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert migrated.exit_code == 0, migrated.output
    dry = CliRunner().invoke(cli, ["keys", "rotate", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "extra_numbers.number: would re-encrypt 2" in dry.output
    done = CliRunner().invoke(cli, ["keys", "rotate"], env=env)
    assert done.exit_code == 0, done.output
    assert "extra_numbers.number: re-encrypted 2" in done.output
    new_only = make_app(DATABASE_URL=url, ENCRYPTION_KEYS=[NEW_KEY])
    with get_engine(new_only).connect() as conn:
        tokens = conn.execute(text("SELECT number FROM extra_numbers WHERE number IS NOT NULL"
                                   " ORDER BY id")).scalars().all()
    assert [crypto.decrypt(t, new_only) for t in tokens] == ["+243970001234", "+243970005678"]


def _redis_url(app: Flask) -> str:
    from gateway.storage.redis import connection_url

    return connection_url(app.extensions["redis"])


def test_keys_new_prints_a_usable_key() -> None:
    result = CliRunner().invoke(cli, ["keys", "new"])
    assert result.exit_code == 0 and crypto.check_key(result.output.strip()) is None


def test_old_pseudonyms_still_link_after_the_secret_key_changes(
    make_app: Callable[..., Flask],
) -> None:
    phone = "+243970001234"
    before = make_app()
    caller = Caller(before.test_client(), phone=phone)
    caller.dial()
    caller.choose("English")
    caller.hang_up()  # the session's end writes the reporter's language to the database
    new_secret = "a-brand-new-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    after = make_app(SECRET_KEY=new_secret, PREVIOUS_SECRET_KEYS=[TEST_SECRET])
    again = Caller(after.test_client(), phone=phone)
    # Every call starts with the language menu; the reporter is relinked to the new key.
    assert "English" in again.dial()
    assert again.choose("English").startswith("CON ")
    with session_scope(after) as session:
        [reporter] = session.query(Reporter).all()
    assert reporter.pseudonym == pseudonym(phone, new_secret) and reporter.language == "en"
