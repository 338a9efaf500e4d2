"""Encryption at rest with rotatable keys, for the little that must be kept recoverable.

Keys come from GATEWAY_ENCRYPTION_KEYS (comma-separated, newest first): the newest encrypts,
every one decrypts, so an old ciphertext still opens after a new key is put in front.
`gateway keys rotate` re-encrypts every column marked `info=ENCRYPTED` in storage/models.py with
the newest key; `gateway keys status` counts what each key still opens, so an old key is removed
only when nothing is left under it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Connection, inspect, text

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


def fingerprint(key: str) -> str:
    """Name a key without showing it: the first 8 hex digits of the SHA-256 of its text."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:8]


def init_app(app: Flask) -> None:
    """Build the app's cipher from its keys, newest first."""
    fernets = [Fernet(key.encode()) for key in app.config["ENCRYPTION_KEYS"]]
    app.extensions["cipher"] = MultiFernet(fernets)
    app.extensions["cipher_keys"] = fernets


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


def key_index(token: str, app: Flask | None = None) -> int | None:
    """Return the position (0 = newest) of the configured key that opens a token, or None."""
    for index, fernet in enumerate((app or current_app).extensions["cipher_keys"]):
        try:
            fernet.extract_timestamp(token.encode())  # checks the token's HMAC with this key
        except InvalidToken:
            continue
        return index
    return None


@dataclass
class KeyUsage:
    """How many stored ciphertexts each configured key opens, and how many none opens."""

    per_key: list[int]
    unreadable: int = 0
    # "table.column" -> counts per key (same order as per_key), then unreadable last.
    per_column: dict[str, list[int]] = field(default_factory=dict)


def key_usage(app: Flask) -> KeyUsage:
    """Count, across every encrypted column, the ciphertexts under each key and under none."""
    keys = len(app.extensions["cipher_keys"])
    usage = KeyUsage(per_key=[0] * keys)
    with get_engine(app).connect() as conn:
        for entry in _present_columns(app):
            counts = [0] * (keys + 1)
            for _row_id, token in _tokens(conn, entry):
                index = key_index(token, app)
                counts[keys if index is None else index] += 1
            usage.per_column[f"{entry.table}.{entry.column}"] = counts
            for index in range(keys):
                usage.per_key[index] += counts[index]
            usage.unreadable += counts[keys]
    return usage


def rotate_stored(app: Flask, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt with the newest key what an older key encrypts; return counts per column."""
    return {
        f"{entry.table}.{entry.column}": _rotate_column(app, entry, dry_run)
        for entry in _present_columns(app)
    }


def _present_columns(app: Flask) -> list[EncryptedColumn]:
    """The registered encrypted columns this database's schema has."""
    inspector = inspect(get_engine(app))
    present = []
    for entry in encrypted_columns():
        if not inspector.has_table(entry.table):
            continue
        if entry.column not in {col["name"] for col in inspector.get_columns(entry.table)}:
            continue
        present.append(entry)
    return present


def _tokens(conn: Connection, entry: EncryptedColumn) -> list[tuple[object, str]]:
    """Return (id, ciphertext) of every stored value of a column."""
    select_sql = text(
        f"SELECT {entry.id_column}, {entry.column} FROM {entry.table} "  # noqa: S608 - registry
        f"WHERE {entry.column} IS NOT NULL"
    )
    return [(row_id, token) for row_id, token in conn.execute(select_sql).all()]


def _rotate_column(app: Flask, entry: EncryptedColumn, dry_run: bool) -> int:
    update_sql = text(
        f"UPDATE {entry.table} SET {entry.column} = :value WHERE {entry.id_column} = :id"
    )
    count = 0
    with get_engine(app).begin() as conn:
        for row_id, token in _tokens(conn, entry):
            index = key_index(token, app)
            if index is None:
                log.error("%s.%s row %s: no key opens it", entry.table, entry.column, row_id)
                continue
            if index == 0:
                continue  # already under the newest key
            count += 1
            if not dry_run:
                conn.execute(update_sql, {"value": rotate_token(token, app), "id": row_id})
    return count
