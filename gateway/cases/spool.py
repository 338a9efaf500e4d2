"""The spool: a finished case the database refused is kept on disk, then committed later.

Each spooled case is one JSON file under `<data dir>/spool`, written to a temporary name,
fsynced and renamed, so a power cut leaves either the whole record or none. It holds the
caller's pseudonym, never the number, and the reference the caller already heard.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from flows import Submission
from gateway.cases.intake import create_case
from gateway.storage.db import session_scope
from gateway.storage.models import CaseEvent, CaseEventKind, Channel
from workers.enqueue import enqueue_route

log = logging.getLogger(__name__)

SUFFIX = ".json"
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class SpooledCase:
    """Everything needed to commit a case later, without the caller's number."""

    key: str
    pseudonym: str
    channel: str
    reference: str
    flow: str
    language: str
    answers: dict[str, str | None]
    spooled_at: float


def spool_dir(app: Flask) -> Path:
    """Return the folder spooled cases are kept in."""
    return Path(app.config["DATA_DIR"]) / "spool"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_case(
    submission: Submission,
    *,
    pseudonym: str,
    channel: Channel,
    key: str,
    reference: str,
    app: Flask,
) -> Path:
    """Write a case durably to the spool and return its file; raise OSError if the disk refuses."""
    folder = spool_dir(app)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = SpooledCase(
        key=key,
        pseudonym=pseudonym,
        channel=channel.value,
        reference=reference,
        flow=submission.flow,
        language=submission.language,
        answers=dict(submission.answers),
        spooled_at=time.time(),
    )
    # The source key is unique per session: a repeated hop overwrites, never duplicates.
    final = folder / f"{key}{SUFFIX}"
    temporary = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(record), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, final)
    _fsync_dir(folder)
    _kick(app)
    return final


def pending(app: Flask) -> list[Path]:
    """Return the spooled cases waiting for the database, oldest first."""
    folder = spool_dir(app)
    if not folder.is_dir():
        return []
    files = [path for path in folder.iterdir() if path.name.endswith(SUFFIX)]
    return sorted(files, key=lambda path: path.stat().st_mtime)


def _load(path: Path) -> SpooledCase | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return SpooledCase(**data)
    except FileNotFoundError:
        return None  # another process replayed it first


def _commit(app: Flask, record: SpooledCase) -> tuple[int, bool, bool]:
    """Commit one spooled case; return its id, whether it is urgent and whether it is new."""
    submission = Submission(record.flow, record.language, dict(record.answers))
    with session_scope(app) as session:
        case, created = create_case(
            session,
            submission,
            pseudonym=record.pseudonym,
            channel=Channel(record.channel),
            key=record.key,
            reference=record.reference,
        )
        if created:
            session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.SPOOLED,
                                  detail={"spooled_at": record.spooled_at}))
            session.commit()
            if case.reference != record.reference:
                log.error("spooled case %s committed under a new reference", case.id)
        return case.id, case.is_urgent, created


def replay(app: Flask) -> int:
    """Commit every spooled case and queue its routing; return how many were committed."""
    committed = 0
    for path in pending(app):
        record = _load(path)
        if record is None:
            continue
        try:
            case_id, urgent, created = _commit(app, record)
        except SQLAlchemyError as exc:
            log.warning("spool not replayed, the database still refuses: %s", type(exc).__name__)
            break
        # Safe for two processes at once: the source key lets only one of them create the case.
        path.unlink(missing_ok=True)
        if created:
            committed += 1
            log.info("spooled case %s committed", case_id)
        enqueue_route(app, case_id, urgent)
    return committed


class Replayer:
    """This process's background replay of the spool: at most one thread at a time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Start the replay thread unless it already runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="spool-replay", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while pending(self.app):
            try:
                with self.app.app_context():
                    replay(self.app)
            except Exception:  # noqa: BLE001 - this thread must outlive any one failure
                log.exception("spool replay failed")
            if pending(self.app):
                time.sleep(RETRY_SECONDS)


def _kick(app: Flask) -> None:
    app.extensions["spool_replayer"].kick()


def init_app(app: Flask) -> None:
    """Keep the app's replayer; replay in the background what an earlier run left in the spool."""
    app.extensions["spool_replayer"] = Replayer(app)
    if pending(app):
        _kick(app)
