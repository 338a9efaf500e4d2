"""The database is unavailable at the final hop: the case is spooled, then committed and routed."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gateway.cases.spool import pending
from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_ussd import reference_in, walk_alert
from workers.sweep import sweep

pytestmark = pytest.mark.faults

PHONE = "+243970004321"


class Outage:
    """Make the test database refuse writes (SQLite) or every connection (PostgreSQL)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.handle: Any = None

    def start(self) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            # Another process holds the write lock: writers get "database is locked".
            self.handle = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
            self.handle.execute("BEGIN IMMEDIATE")
            return
        import psycopg

        base, name = self.url.replace("postgresql+psycopg", "postgresql").rsplit("/", 1)
        self.handle = (psycopg.connect(f"{base}/postgres", autocommit=True), name)
        admin, _ = self.handle
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,),
        )

    def end(self) -> None:
        if self.handle is None:
            return
        if self.url.startswith("sqlite"):
            self.handle.rollback()
            self.handle.close()
        else:
            admin, name = self.handle
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.close()
        self.handle = None


class OutageBefore:
    """A test client that starts the outage just before the n-th hop it posts."""

    def __init__(self, client: FlaskClient, hop: int, outage: Outage) -> None:
        self.client, self.hop, self.outage, self.posted = client, hop, outage, 0

    def post(self, url: str, data: Mapping[str, str]) -> Any:
        self.posted += 1
        if self.posted == self.hop:
            self.outage.start()
        return self.client.post(url, data=data)


def test_a_case_finished_while_the_database_is_down_is_spooled_then_routed(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, tmp_path: Path,
    run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   DATA_DIR=str(tmp_path))
    deployment.standard(app)
    rehearsal = Caller(app.test_client(), phone="+243970009876")
    walk_alert(rehearsal)
    hops = len(rehearsal.screens)

    outage = Outage(schema)
    caller = Caller(OutageBefore(app.test_client(), hops, outage), phone=PHONE)  # type: ignore[arg-type]
    try:
        end = walk_alert(caller)
        assert end.startswith("END ")  # a proper screen, with the reference
        reference = reference_in(end)
        assert reference != reference_in(rehearsal.screen)
        [spooled] = pending(app)
        record = json.loads(spooled.read_text())
        assert record["reference"] == reference
        raw = spooled.read_text()
        assert PHONE.lstrip("+") not in raw and "970004321" not in raw
        assert len(record["pseudonym"]) == 64
    finally:
        outage.end()

    with session_scope(app) as session:
        before = session.scalar(select(Case).where(Case.reference == reference))
    assert before is None or before.status == CaseStatus.NEW  # the spool may be replaying

    with app.app_context():
        sweep(min_age=0)  # a worker's sweep (or this process's replay) commits the spool
    run_jobs(app)

    assert pending(app) == []
    with session_scope(app) as session:
        case = session.scalar(
            select(Case).where(Case.reference == reference).options(selectinload(Case.events))
        )
        assert case is not None and case.status == CaseStatus.ROUTED
        assert "spooled" in [event.kind for event in case.events]
    sent = [m for m in at_api.messages if reference in m["form"]["message"]]
    assert len(sent) == 1


def _relay_alert(caller: Caller) -> str:
    """A focal point's relay of a recruitment in Bambari, by USSD; return the last screen."""
    caller.dial()
    caller.choose("English")
    if "Report for someone else" not in caller.screen:
        caller.press("98")  # More
    caller.choose("Report for someone else")
    caller.choose("child in danger")
    caller.choose("Continue")
    caller.choose("Recruited")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    for _ in range(12):  # the first option of every other question
        if caller.screen.startswith("CON Send"):
            break
        caller.press("1")
    return caller.choose("Send")


def test_a_relay_finished_while_the_database_is_down_is_never_the_relayers_own_report(
    make_app: Callable[..., Flask], at_api: StandInAPI, schema: str, tmp_path: Path,
    run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   DATA_DIR=str(tmp_path))
    deployment.standard(app)
    # Another focal point rehearses (one number's walks would pass its rate limit).
    rehearsal = Caller(app.test_client(), phone=deployment.OUAKA_BACKUP_PHONE)
    _relay_alert(rehearsal)
    hops = len(rehearsal.screens)

    outage = Outage(schema)
    caller = Caller(OutageBefore(app.test_client(), hops, outage), phone=deployment.OUAKA_PHONE)  # type: ignore[arg-type]
    try:
        reference = reference_in(_relay_alert(caller))
        [spooled] = pending(app)
        record = json.loads(spooled.read_text())
        # Spooled with no reporter link and nothing of a callback: the relayer is staff.
        assert record["reference"] == reference and record["pseudonym"] == ""
        assert "callback" not in json.dumps(record)
    finally:
        outage.end()
    with app.app_context():
        sweep(min_age=0)
    run_jobs(app)
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None and case.status == CaseStatus.ROUTED
        assert case.reporter_id is None
