"""`gateway archive`: everything a successor needs, encrypted, verified; nothing about reporters."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import click
import pyrage
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.handover import archive
from gateway.storage.crypto import encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Callback,
    Case,
    CaseNote,
    DeskRole,
    InboundMessage,
    Reporter,
    User,
)
from tests.conftest import StandInAPI
from tests.handover.test_handover import gateway_cli, run  # noqa: F401 - the fixture
from tests.test_complaints import with_conduct
from tests.test_follow_up import CALLER, report
from tests.test_sms import REPORTER, Phone

PASSPHRASE = "correct horse battery staple"
WORDS = "Kouassi took the twins to the quarry behind the mosque"
NOTE = "Visited the school with the prefect; two children back home"
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$not-a-real-hash"
TOTP = "JBSWY3DPEHPK3PXP"


def real_reports(app: Flask, client: FlaskClient, at_api: StandInAPI,
                 run_jobs: Callable[..., None]) -> list[str]:
    """An alert by USSD asking for an SMS later, one by SMS in the reporter's own words, a
    note, a user with a password and a second factor; return every secret to look for."""
    with_conduct(app)
    reference = report(client, sms_later=True)
    Phone(client, at_api, run_jobs, number=REPORTER).send(f"ALERT {WORDS}")
    run_jobs()
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        user = User(email="lead@example.org", password_hash=PASSWORD_HASH,
                    role=DeskRole.COORDINATOR, totp_secret=encrypt(TOTP, app))
        session.add(user)
        session.flush()
        session.add(CaseNote(case_id=case.id, user_id=user.id, body=encrypt(NOTE, app)))
        session.commit()
        assert session.scalar(select(Callback.id)) is not None  # the SMS asked for
        assert session.scalar(select(InboundMessage.id)) is not None
        pseudonyms = list(session.scalars(select(Reporter.pseudonym)))
    assert len(pseudonyms) == 2
    return [CALLER, CALLER.lstrip("+"), CALLER[-9:], REPORTER, REPORTER.lstrip("+"),
            REPORTER[-9:], *pseudonyms, *(pseudonym[:40] for pseudonym in pseudonyms),
            WORDS, "Kouassi", "quarry", PASSWORD_HASH, "argon2", TOTP]


def tar_text(content: bytes) -> str:
    """Every part of a decrypted archive, as one text."""
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        return "\n".join(
            (tar.extractfile(member) or io.BytesIO()).read().decode("utf-8", "replace")
            for member in tar.getmembers())


def test_a_passphrase_archive_round_trip_holds_no_reporter_number_pseudonym_or_words(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group, tmp_path: Path,  # noqa: F811
) -> None:
    secrets = real_reports(app, client, at_api, run_jobs)
    target = tmp_path / "handover.age"
    written = run(gateway_cli, "archive", "--to", str(target), "--passphrase-stdin",
                  stdin=PASSPHRASE + "\n")
    assert written.exit_code == 0, written.output
    assert "cases: 2" in written.output and "notes: 1" in written.output
    assert target.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert b"lead@example.org" not in target.read_bytes()  # encrypted

    checked = run(gateway_cli, "archive", "--verify", str(target), "--passphrase-stdin",
                  stdin=PASSPHRASE + "\n")
    assert checked.exit_code == 0, checked.output
    assert "archive valid" in checked.output and "cases: 2" in checked.output

    content = archive.decrypt_archive(target.read_bytes(), passphrase=PASSPHRASE)
    everything = tar_text(content)
    for secret in secrets:
        assert secret not in everything, secret
    verified = archive.check(content)
    cases = verified.records("cases")
    assert {case["kind"] for case in cases} == {"alert"}
    assert all("reporter_id" not in case and "details" not in case for case in cases)
    [note] = verified.records("notes")
    assert note["body"] == NOTE and note["by"] == "lead@example.org"
    users = verified.records("users")
    assert [user["email"] for user in users] == ["lead@example.org"]
    assert {"password_hash", "totp_secret"}.isdisjoint(users[0])
    assert len(verified.records("focal_points")) == 6 and verified.records("places")
    assert any(name.startswith("flows/") and name.endswith(".yaml") for name in verified.parts)
    assert any(name.endswith("messages.po") for name in verified.parts)
    manifest = verified.manifest
    assert manifest["schema_revision"] and manifest["counts"]["case_events"] > 0

    wrong = run(gateway_cli, "archive", "--verify", str(target), "--passphrase-stdin",
                stdin="wrong horse\n")
    assert wrong.exit_code == 1 and "archive NOT valid: cannot decrypt" in wrong.output


def test_a_recipient_key_archive_opens_with_its_identity_only_and_tampering_is_found(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group, tmp_path: Path,  # noqa: F811
) -> None:
    real_reports(app, client, at_api, run_jobs)
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "successor.key"
    key_file.write_text(f"# the successor's key\n{identity}\n")
    target = tmp_path / "handover.age"
    written = run(gateway_cli, "archive", "--to", str(target),
                  "--recipient", str(identity.to_public()))
    assert written.exit_code == 0, written.output
    checked = run(gateway_cli, "archive", "--verify", str(target), "--identity", str(key_file))
    assert checked.exit_code == 0, checked.output

    other = tmp_path / "other.key"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    refused = run(gateway_cli, "archive", "--verify", str(target), "--identity", str(other))
    assert refused.exit_code == 1 and "cannot decrypt" in refused.output

    sealed = bytearray(target.read_bytes())
    sealed[len(sealed) // 2] ^= 0x01  # one bit flipped on the disk or on the way
    tampered = tmp_path / "tampered.age"
    tampered.write_bytes(bytes(sealed))
    result = run(gateway_cli, "archive", "--verify", str(tampered), "--identity", str(key_file))
    assert result.exit_code == 1 and "archive NOT valid" in result.output

    # Re-encrypted after a part was changed: the manifest's sha256 finds it.
    content = archive.decrypt_archive(target.read_bytes(), identities=[str(identity)])
    parts = archive._untar(content)
    cases = json.loads(parts["data/cases.json"])
    cases[0]["category"] = "killing"
    parts["data/cases.json"] = json.dumps(cases).encode()
    forged = tmp_path / "forged.age"
    forged.write_bytes(archive.encrypt(archive._tar(parts),
                                       recipients=[str(identity.to_public())]))
    result = run(gateway_cli, "archive", "--verify", str(forged), "--identity", str(key_file))
    assert result.exit_code == 1 and "sha256 differs: data/cases.json" in result.output


def test_archive_needs_one_way_to_encrypt(
    app: Flask, gateway_cli: click.Group, tmp_path: Path,  # noqa: F811
) -> None:
    target = tmp_path / "a.age"
    assert run(gateway_cli, "archive", "--to", str(target)).exit_code == 2
    bad = run(gateway_cli, "archive", "--to", str(target), "--recipient", "age1notakey")
    assert bad.exit_code == 1 and "not an age public key" in bad.output
    with pytest.raises(archive.ArchiveError):
        archive.encrypt(b"x")
