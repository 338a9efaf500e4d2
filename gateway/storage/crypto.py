"""Encryption at rest with rotatable keys, for the little that must be kept recoverable.

Keys come from GATEWAY_ENCRYPTION_KEYS (comma-separated, newest first): the newest encrypts,
every one decrypts, so an old ciphertext still opens after a new key is put in front.
`gateway keys rotate` re-encrypts every column marked `info=ENCRYPTED` in storage/models.py with
the newest key; the old key can then be removed.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import inspect, text

from gateway.errors import GatewayError
from gateway.storage.db import Base, get_engine
from gateway.storage.models import ENCRYPTED

log = logging.getLogger(__name__)

MIN_DISTINCT_BYTES = 16  # a random 32-byte key has about 28; "AAAA..." has 1


class DecryptError(GatewayError):
    """A ciphertext could not be opened with any configured key."""


@dataclass(frozen=True)
class EncryptedColumn:
    """A column that holds ciphertexts of encrypt(); its primary key column is `id`."""

    table: str
    column: str
    id_column: str = "id"


def encrypted_columns() -> list[EncryptedColumn]:
    """Return every column of the schema marked as holding ciphertexts."""
    return [
        EncryptedColumn(table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.info.get("encrypted") == ENCRYPTED["encrypted"]
    ]


def new_key() -> str:
    """Return a new random encryption key."""
    return Fernet.generate_key().decode()


def check_key(key: str) -> str | None:
    """Return why an encryption key is refused, or None when it is fine."""
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return "not url-safe base64 (create one with `gateway keys new`)"
    if len(raw) != 32:
        return f"{len(raw)} bytes, 32 needed (create one with `gateway keys new`)"
    if len(set(raw)) < MIN_DISTINCT_BYTES:
        return "not random enough (a default or example key?)"
    return None


def init_app(app: Flask) -> None:
    """Build the app's cipher from its keys, newest first."""
    keys = app.config["ENCRYPTION_KEYS"]
    app.extensions["cipher"] = MultiFernet([Fernet(key.encode()) for key in keys])


def _cipher(app: Flask | None = None) -> MultiFernet:
    return (app or current_app).extensions["cipher"]


def encrypt(value: str, app: Flask | None = None) -> str:
    """Encrypt text with the newest key; return a printable token."""
    return _cipher(app).encrypt(value.encode()).decode()


def decrypt(token: str, app: Flask | None = None) -> str:
    """Decrypt a token made by encrypt() with any configured key."""
    try:
        return _cipher(app).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptError("no configured key opens this ciphertext") from exc


def rotate_token(token: str, app: Flask | None = None) -> str:
    """Return the same plaintext encrypted with the newest key."""
    try:
        return _cipher(app).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptError("no configured key opens this ciphertext") from exc


def rotate_stored(app: Flask, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt every registered column with the newest key; return counts per column."""
    engine = get_engine(app)
    inspector = inspect(engine)
    counts: dict[str, int] = {}
    for entry in encrypted_columns():
        name = f"{entry.table}.{entry.column}"
        if not inspector.has_table(entry.table):
            continue
        if entry.column not in {col["name"] for col in inspector.get_columns(entry.table)}:
            continue
        counts[name] = _rotate_column(app, entry, dry_run)
    return counts


def _rotate_column(app: Flask, entry: EncryptedColumn, dry_run: bool) -> int:
    select_sql = text(
        f"SELECT {entry.id_column}, {entry.column} FROM {entry.table} "  # noqa: S608 - registry
        f"WHERE {entry.column} IS NOT NULL"
    )
    update_sql = text(
        f"UPDATE {entry.table} SET {entry.column} = :value WHERE {entry.id_column} = :id"
    )
    count = 0
    with get_engine(app).begin() as conn:
        for row_id, token in conn.execute(select_sql).all():
            try:
                fresh = rotate_token(token, app)
            except DecryptError:
                log.error("%s.%s row %s: no key opens it", entry.table, entry.column, row_id)
                continue
            count += 1
            if not dry_run:
                conn.execute(update_sql, {"value": fresh, "id": row_id})
    return count
