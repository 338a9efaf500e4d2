"""The archive: everything a successor needs, in one file encrypted with age (pyrage).

Inside the age encryption is a tar of parts: `manifest.json` (format, created at, schema
revision, counts, the sha256 of every other part), `data/*.json` (places, roster, services,
users, cases, case events, case links, Primero pushes, notes, audit trail), the flows
(`flows/*.yaml`) and the catalogs (`locales/...`).

What is never in it (design: anonymous by construction): reporters and their pseudonyms,
call-back numbers, contact consents, the outbox (numbers and words), incoming SMS, the
reporter's free text (Case.details), the language a case was reported in, the digest of its
USSD session, and whether its reporter asked for an SMS. Users go without password hashes,
second-factor secrets or lockout state. Notes written on the desk are staff's words: they are
decrypted (the successor has none of this server's keys) unless `include_notes` is False.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pyrage
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

import flows
from gateway.errors import GatewayError
from gateway.storage.crypto import DecryptError as StoredDecryptError
from gateway.storage.crypto import decrypt
from gateway.storage.db import session_scope
from gateway.storage.migrate import current_revision
from gateway.storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseLink,
    CaseNote,
    FocalPoint,
    Location,
    PrimeroPush,
    Service,
    User,
    aware,
    utcnow,
)

FORMAT = "community-alert-gateway archive 1"
MANIFEST = "manifest.json"
FLOWS_DIR = Path(flows.__file__).resolve().parent / "definitions"
# Keys an event's or audit row's detail never carries into the archive, whatever wrote them.
REPORTER_KEYS = frozenset({
    "pseudonym", "reporter", "reporter_id", "number", "phone", "phone_number", "recipient",
    "details", "text", "body", "reply_to", "callback", "contact",
})


class ArchiveError(GatewayError):
    """An archive cannot be written: no recipient or passphrase, or a bad recipient key."""


class ArchiveInvalid(GatewayError):
    """An archive does not open (wrong passphrase or identity), or its content does not match
    its manifest."""


def _value(value: Any) -> Any:
    """Return a value as JSON can hold it: times in ISO 8601 UTC, enums by value."""
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: object, names: Iterable[str]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in names}


def _scrub(detail: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (detail or {}).items() if k.lower() not in REPORTER_KEYS}


def _places(session: Session) -> list[dict[str, Any]]:
    places = session.scalars(select(Location).order_by(Location.depth, Location.id)).all()
    codes = {place.id: place.pcode for place in places}
    return [{**_row(place, ("pcode", "name", "names", "depth", "updated_at")),
             "parent": codes.get(place.parent_id) if place.parent_id else None}
            for place in places]


def _roster(session: Session) -> list[dict[str, Any]]:
    points = session.scalars(select(FocalPoint).options(selectinload(FocalPoint.locations))
                             .order_by(FocalPoint.id))
    return [{**_row(point, ("id", "name", "phone", "organisation", "gender", "languages",
                            "categories", "role", "level", "active", "updated_at")),
             "places": sorted(place.pcode for place in point.locations)} for point in points]


def _services(session: Session) -> list[dict[str, Any]]:
    services = session.scalars(select(Service).options(selectinload(Service.locations))
                               .order_by(Service.id))
    return [{**_row(service, ("name", "kind", "phone", "hours", "languages", "active",
                              "updated_at")),
             "places": sorted(place.pcode for place in service.locations)}
            for service in services]


def _users(session: Session) -> list[dict[str, Any]]:
    users = session.scalars(select(User).options(selectinload(User.locations)).order_by(User.id))
    return [{**_row(user, ("id", "email", "role", "categories", "focal_point_id", "active",
                           "language", "created_at", "last_login_at", "disabled_at")),
             "places": sorted(place.pcode for place in user.locations)} for user in users]


# A case's own fields, never a link to who reported it (no reporter_id, language, source_key,
# callback_requested, details).
CASE_FIELDS = (
    "id", "reference", "kind", "channel", "status", "category", "children", "sex", "urgent",
    "incident_from", "incident_to", "perpetrator", "age_group", "girls", "boys",
    "relayed_by_id", "needs_triage", "partial", "escalation_stage", "created_at", "routed_at",
    "acknowledged_at", "closed_at", "verification", "outcome", "assigned_focal_point_id",
    "assigned_user_id",
)


def _cases(session: Session) -> list[dict[str, Any]]:
    cases = session.scalars(select(Case).options(selectinload(Case.location)).order_by(Case.id))
    references = {case_id: ref for case_id, ref in session.execute(select(Case.id, Case.reference))}
    return [{**_row(case, CASE_FIELDS),
             "place": case.location.pcode if case.location is not None else None,
             "answers": _scrub(case.answers),  # codes chosen from menus, never free text
             "duplicate_of": references.get(case.duplicate_of_id) if case.duplicate_of_id
             else None}
            for case in cases]


def _events(session: Session) -> list[dict[str, Any]]:
    events = session.scalars(select(CaseEvent).order_by(CaseEvent.id))
    return [{**_row(event, ("id", "case_id", "kind", "created_at")),
             "detail": _scrub(event.detail)} for event in events]


def _links(session: Session) -> list[dict[str, Any]]:
    links = session.scalars(select(CaseLink).order_by(CaseLink.id))
    return [_row(link, ("case_id", "other_case_id", "kind", "created_at", "confirmed_by",
                        "confirmed_at")) for link in links]


def _pushes(session: Session) -> list[dict[str, Any]]:
    pushes = session.scalars(select(PrimeroPush).order_by(PrimeroPush.id))
    return [_row(push, ("case_id", "incident_id", "status", "attempts", "status_code",
                        "errors", "created_at", "updated_at", "pushed_at")) for push in pushes]


def _notes(app: Flask, session: Session) -> list[dict[str, Any]]:
    notes = session.scalars(select(CaseNote).options(selectinload(CaseNote.user))
                            .order_by(CaseNote.id))
    found = []
    for note in notes:
        try:
            body: str | None = decrypt(note.body, app)
        except StoredDecryptError:
            body = None  # under no configured key: the count says it, the text is lost
        found.append({**_row(note, ("id", "case_id", "created_at")),
                      "by": note.user.email if note.user is not None else None, "body": body})
    return found


def _audit(session: Session) -> list[dict[str, Any]]:
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [{**_row(entry, ("id", "at", "user_id", "user_email", "case_id", "case_reference",
                            "action")), "detail": _scrub(entry.detail)} for entry in entries]


def _tables(app: Flask, include_notes: bool) -> dict[str, Callable[[Session], list[Any]]]:
    parts: dict[str, Callable[[Session], list[Any]]] = {
        "places": _places, "focal_points": _roster, "services": _services, "users": _users,
        "cases": _cases, "case_events": _events, "case_links": _links,
        "primero_pushes": _pushes, "audit": _audit,
    }
    if include_notes:
        parts["notes"] = lambda session: _notes(app, session)
    return parts


def _files(root: Path, prefix: str, pattern: str) -> dict[str, bytes]:
    return {f"{prefix}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.glob(pattern)) if path.is_file()}


def _tar(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def build(app: Flask, *, include_notes: bool = True) -> tuple[bytes, dict[str, Any]]:
    """Return the archive's clear content (a tar) and its manifest."""
    parts: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    with session_scope(app) as session:
        for name, read in _tables(app, include_notes).items():
            records = read(session)
            counts[name] = len(records)
            parts[f"data/{name}.json"] = json.dumps(records, ensure_ascii=False,
                                                    indent=1).encode()
    flow_files = _files(FLOWS_DIR, "flows", "*.yaml")
    catalogs = _files(Path(app.config["LOCALES_DIR"]), "locales", "**/*")
    counts["flows"], counts["catalog_files"] = len(flow_files), len(catalogs)
    parts |= flow_files | catalogs
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "schema_revision": current_revision(app),
        "notes": "decrypted" if include_notes else "not included",
        "counts": counts,
        "parts": {name: _sha256(content) for name, content in parts.items()},
    }
    content = {MANIFEST: json.dumps(manifest, indent=1).encode(), **parts}
    return _tar(content), manifest


def encrypt(content: bytes, *, passphrase: str | None = None,
            recipients: Iterable[str] = ()) -> bytes:
    """Encrypt to a passphrase (scrypt) or to age X25519 recipients (age1...)."""
    keys = list(recipients)
    if bool(passphrase) == bool(keys):
        raise ArchiveError("give either a passphrase or recipient keys")
    if passphrase:
        return pyrage.passphrase.encrypt(content, passphrase)
    try:
        parsed = [pyrage.x25519.Recipient.from_str(key.strip()) for key in keys]
    except pyrage.RecipientError as exc:
        raise ArchiveError(f"not an age public key (age1...): {exc}") from exc
    return pyrage.encrypt(content, parsed)


def write(app: Flask, path: Path, *, passphrase: str | None = None,
          recipients: Iterable[str] = (), include_notes: bool = True) -> dict[str, Any]:
    """Write the encrypted archive to path (mode 600); return its manifest."""
    content, manifest = build(app, include_notes=include_notes)
    sealed = encrypt(content, passphrase=passphrase, recipients=recipients)
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(sealed)
    return manifest


def decrypt_archive(sealed: bytes, *, passphrase: str | None = None,
                    identities: Iterable[str] = ()) -> bytes:
    """Open an archive with its passphrase or an age identity (AGE-SECRET-KEY-1...)."""
    keys = list(identities)
    try:
        if passphrase:
            return pyrage.passphrase.decrypt(sealed, passphrase)
        parsed = [pyrage.x25519.Identity.from_str(key.strip()) for key in keys]
        return pyrage.decrypt(sealed, parsed)
    except (pyrage.DecryptError, pyrage.IdentityError) as exc:
        raise ArchiveInvalid(f"cannot decrypt: {exc}") from exc


@dataclass(frozen=True)
class Verified:
    """An archive that opened and matched its manifest."""

    manifest: dict[str, Any]
    parts: dict[str, bytes]

    def records(self, name: str) -> list[Any]:
        """Return the records of a data part (places, cases, audit...)."""
        return json.loads(self.parts[f"data/{name}.json"])


def _untar(content: bytes) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
            parts: dict[str, bytes] = {}
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is None:
                    raise ArchiveInvalid(f"unexpected entry {member.name}")
                if member.name in parts:
                    raise ArchiveInvalid(f"{member.name} appears twice")
                parts[member.name] = extracted.read()
    except tarfile.TarError as exc:
        raise ArchiveInvalid(f"not an archive of the gateway: {exc}") from exc
    return parts


def check(content: bytes) -> Verified:
    """Check a decrypted archive against its manifest: every part, hash and count."""
    parts = _untar(content)
    try:
        manifest = json.loads(parts.pop(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise ArchiveInvalid("no readable manifest") from exc
    if manifest.get("format") != FORMAT:
        raise ArchiveInvalid(f"unknown format {manifest.get('format')!r}")
    listed: dict[str, str] = manifest.get("parts", {})
    problems = [f"missing: {name}" for name in sorted(set(listed) - set(parts))]
    problems += [f"not in the manifest: {name}" for name in sorted(set(parts) - set(listed))]
    problems += [f"sha256 differs: {name}" for name in sorted(set(parts) & set(listed))
                 if _sha256(parts[name]) != listed[name]]
    verified = Verified(manifest, parts)
    for name, count in manifest.get("counts", {}).items():
        key = f"data/{name}.json"
        if key in parts and key in listed:
            try:
                found = len(verified.records(name))
            except ValueError:
                problems.append(f"not JSON: {key}")
                continue
            if found != count:
                problems.append(f"{name}: {found} records, the manifest says {count}")
    if problems:
        raise ArchiveInvalid("; ".join(problems))
    return verified


def verify(path: Path, *, passphrase: str | None = None,
           identities: Iterable[str] = ()) -> Verified:
    """Open an archive file and check it; raise ArchiveInvalid on any mismatch."""
    return check(decrypt_archive(path.read_bytes(), passphrase=passphrase,
                                 identities=identities))
