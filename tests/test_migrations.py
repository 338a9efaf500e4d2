"""Migrations convert what earlier versions stored (0004, 0008), on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from gateway.storage.db import get_engine, session_scope
from gateway.storage.migrate import upgrade
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    InboundMessage,
    InboundStatus,
    Location,
    OutboxMessage,
    OutboxPurpose,
)


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the run's kind (PostgreSQL when DATABASE_URL names one)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    name = f"gateway_upgrade_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_stored_urgency_and_vocabularies_survive_the_upgrade(
    make_app: Callable[..., Flask], empty_database: str
) -> None:
    app = make_app(DATABASE_URL=empty_database)
    upgrade(app, "0003")
    with get_engine(app).begin() as conn:
        for reference, urgent in (("1000001", "yes"), ("1000002", "no"), ("1000003", "unknown")):
            conn.execute(text(
                "INSERT INTO cases (reference, kind, channel, status, category, children, sex,"
                " urgent, language, created_at) VALUES (:r, 'alert', 'ussd', 'routed', 'other',"
                " 'unknown', 'unknown', :u, 'fr', CURRENT_TIMESTAMP)"
            ), {"r": reference, "u": urgent})
        conn.execute(text(
            "INSERT INTO case_events (case_id, kind, detail, created_at) VALUES"
            " (1, 'created', '{}', CURRENT_TIMESTAMP), (1, 'escalation_skipped', '{}',"
            " CURRENT_TIMESTAMP)"
        ))
        conn.execute(text(
            "INSERT INTO outbox_messages (case_id, purpose, urgent, status, attempts, created_at,"
            " updated_at) VALUES (1, 'escalation_2', true, 'sent', 1, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"
        ))
        conn.execute(text(
            "INSERT INTO inbound_messages (provider_key, pseudonym, status, received_at) VALUES"
            " ('k1', 'p1', 'processed', CURRENT_TIMESTAMP)"
        ))
    upgrade(app)
    with session_scope(app) as session:
        urgency = dict(session.execute(select(Case.reference, Case.urgent)).all())
        assert urgency == {"1000001": True, "1000002": False, "1000003": None}
        kinds = session.scalars(select(CaseEvent.kind).order_by(CaseEvent.id)).all()
        assert kinds == [CaseEventKind.CREATED, CaseEventKind.ESCALATION_SKIPPED]
        assert session.scalar(select(OutboxMessage.purpose)) == OutboxPurpose.ESCALATION_2
        assert session.scalar(select(InboundMessage.status)) == InboundStatus.PROCESSED
        assert [case.is_urgent for case in session.scalars(select(Case).order_by(Case.id))] == [
            True, False, False,
        ]
    # The database itself now refuses a word outside the vocabulary.
    with pytest.raises(IntegrityError), get_engine(app).begin() as conn:
        conn.execute(text(
            "INSERT INTO case_events (case_id, kind, detail, created_at) VALUES"
            " (1, 'made_up', '{}', CURRENT_TIMESTAMP)"
        ))
    get_engine(app).dispose()


def test_locations_gain_names_per_language_and_keep_their_name(
    make_app: Callable[..., Flask], empty_database: str
) -> None:
    app = make_app(DATABASE_URL=empty_database)
    upgrade(app, "0007")
    with get_engine(app).begin() as conn:
        conn.execute(text(
            "INSERT INTO locations (pcode, name, parent_id, depth, updated_at) VALUES"
            " ('CF', 'République centrafricaine', NULL, 0, CURRENT_TIMESTAMP)"
        ))
        conn.execute(text(
            "INSERT INTO locations (pcode, name, parent_id, depth, updated_at) SELECT"
            " 'CF11', 'Bangui', id, 1, CURRENT_TIMESTAMP FROM locations WHERE pcode = 'CF'"
        ))
    upgrade(app)
    with session_scope(app) as session:
        rows = session.scalars(select(Location).order_by(Location.id)).all()
        assert [(row.pcode, row.name, row.names) for row in rows] == [
            ("CF", "République centrafricaine", {}), ("CF11", "Bangui", {}),
        ]
        assert rows[0].name_in("en") == "République centrafricaine"  # no name of its own yet
        rows[0].names = {"en": "Central African Republic"}
        session.commit()
    with session_scope(app) as session:
        country = session.scalars(select(Location).where(Location.pcode == "CF")).one()
        assert country.name_in("en") == "Central African Republic"
        assert country.name_in("fr") == "République centrafricaine"
    # A row written without the column (an older process, a hand-written INSERT) has no names.
    with get_engine(app).begin() as conn:
        conn.execute(text(
            "INSERT INTO locations (pcode, name, parent_id, depth, updated_at) SELECT"
            " 'CF52', 'Ouaka', id, 1, CURRENT_TIMESTAMP FROM locations WHERE pcode = 'CF'"
        ))
    with session_scope(app) as session:
        ouaka = session.scalars(select(Location).where(Location.pcode == "CF52")).one()
        assert ouaka.names == {} and ouaka.name_in("en") == "Ouaka"
    get_engine(app).dispose()
