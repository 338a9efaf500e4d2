"""Rows for the worker tests, written straight into the test database, and a burst worker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from flask import Flask
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import SimpleWorker
from sqlalchemy import select

from gateway.cases.references import new_reference
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseKind,
    CaseStatus,
    Channel,
    Location,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from tests import deployment
from workers import queues

ROOT = Path(__file__).resolve().parents[2]

# Country > prefecture > sub-prefecture, as in the Central African Republic.
PLACES = [
    ("CF", "Central African Republic", None),
    ("CF52", "Ouaka", "CF"),
    ("CF521", "Bambari", "CF52"),
    ("CF522", "Ippy", "CF52"),
    ("CF61", "Haute-Kotto", "CF"),
    ("CF611", "Bria", "CF61"),
    ("CD", "Democratic Republic of the Congo", None),
    ("CD61", "Nord-Kivu", "CD"),
]

# The French of the focal points' SMS (workers/sending.py), as the lead adds it to the catalog.
FRENCH = {
    "URGENT child alert %(reference)s: %(category)s, %(place)s. "
    "Children: %(children)s, %(sex)s. Child in danger now.": (
        "URGENT alerte enfant %(reference)s: %(category)s, %(place)s. "
        "Enfants: %(children)s, %(sex)s. Enfant en danger maintenant."
    ),
    "Child alert %(reference)s: %(category)s, %(place)s. "
    "Children: %(children)s, %(sex)s. Not in danger right now.": (
        "Alerte enfant %(reference)s: %(category)s, %(place)s. "
        "Enfants: %(children)s, %(sex)s. Pas en danger en ce moment."
    ),
    "Child alert %(reference)s: %(category)s, %(place)s. "
    "Children: %(children)s, %(sex)s. Danger now: not known.": (
        "Alerte enfant %(reference)s: %(category)s, %(place)s. "
        "Enfants: %(children)s, %(sex)s. Danger immédiat: inconnu."
    ),
    "%(place)s (%(area)s)": "%(place)s (%(area)s)",
    "place not known": "lieu inconnu",
    "number not known": "nombre inconnu",
    "recruitment": "recrutement",
    "killing": "meurtre",
    "maiming": "mutilation",
    "sexual violence": "violence sexuelle",
    "abduction": "enlèvement",
    "attack on school": "attaque d'école",
    "attack on hospital": "attaque d'hôpital",
    "aid blocked": "aide bloquée",
    "detention": "détention",
    "other": "autre",
    "girls": "filles",
    "boys": "garçons",
    "girls and boys": "filles et garçons",
    "sex not known": "sexe inconnu",
}


def french_locales(tmp_path: Path) -> Path:
    """Write a locales folder: the shipped catalogs plus the SMS French above where missing."""
    shipped = ROOT / "locales"
    for lang in ("en", "fr"):
        source = shipped / lang / "LC_MESSAGES" / "messages.po"
        with source.open("rb") as fh:
            catalog: Catalog = read_po(fh, locale=lang)
        if lang == "fr":
            for msgid, msgstr in FRENCH.items():
                if not (catalog.get(msgid) and catalog.get(msgid).string):
                    catalog.add(msgid, msgstr, flags=["python-format"] if "%(" in msgid else ())
        target = tmp_path / "locales" / lang / "LC_MESSAGES" / "messages.po"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            write_po(fh, catalog)
    # Which languages fold to GSM-7 (the SMS of fr, sg, ln do).
    (tmp_path / "locales" / "languages.toml").write_bytes((shipped / "languages.toml").read_bytes())
    return tmp_path / "locales"


def add_places(app: Flask, places: Sequence[tuple[str, str, str | None]] = PLACES) -> None:
    """Write locations, parents before children (two countries by default)."""
    deployment.add_places(app, places)


add_focal_point = deployment.add_focal_point


def add_case(
    app: Flask,
    pcode: str | None = "CF521",
    *,
    category: str = "recruitment",
    children: str = "2-3",
    sex: str = "girls",
    urgent: bool | None = True,
    status: CaseStatus = CaseStatus.NEW,
    created_at: datetime | None = None,
) -> int:
    """Write one alert case; return its id."""
    with session_scope(app) as session:
        location_id = (
            session.scalar(select(Location.id).where(Location.pcode == pcode)) if pcode else None
        )
        case = Case(
            reference=new_reference(7),
            kind=CaseKind.ALERT,
            channel=Channel.USSD,
            status=status,
            category=category,
            location_id=location_id,
            children=children,
            sex=sex,
            urgent=urgent,
            language="en",
            created_at=created_at or utcnow(),
        )
        session.add(case)
        session.commit()
        return case.id


def add_outbox(
    app: Flask,
    case_id: int,
    focal_point_id: int,
    *,
    status: OutboxStatus = OutboxStatus.QUEUED,
    attempts: int = 0,
    updated_at: datetime | None = None,
    urgent: bool = False,
) -> int:
    """Write one outbox row; return its id."""
    with session_scope(app) as session:
        now = utcnow()
        row = OutboxMessage(
            case_id=case_id,
            focal_point_id=focal_point_id,
            purpose="case_alert",
            urgent=urgent,
            status=status,
            attempts=attempts,
            created_at=updated_at or now,
            updated_at=updated_at or now,
        )
        session.add(row)
        session.commit()
        return row.id


def case_of(app: Flask, case_id: int) -> Case:
    """Reload a case with its events."""
    with session_scope(app) as session:
        case = session.get(Case, case_id)
        assert case is not None
        _ = list(case.events)
        return case


def outbox(app: Flask, case_id: int | None = None) -> list[OutboxMessage]:
    """Return the outbox rows (of one case), in id order."""
    with session_scope(app) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if case_id is not None:
            query = query.where(OutboxMessage.case_id == case_id)
        return list(session.scalars(query))


def work(app: Flask) -> int:
    """Run every queued job to completion in this process, as a worker would."""
    connection = app.extensions["redis"]
    worker = SimpleWorker(
        [app.extensions["queues"][name] for name in queues.ALL], connection=connection
    )
    with app.app_context():
        worker.work(burst=True)
    return worker.successful_job_count


def closed_port_redis() -> Redis:
    """Return a client of a Redis server that is down (nothing listens), failing at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Without this, redis-py retries a refused connection ten times over about four seconds.
    return Redis(port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def run_concurrently(app: Flask, job: Callable[[int], None], arg: int, count: int = 4) -> None:
    """Run a job in `count` threads released at the same moment; fail on any error raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                job(arg)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
