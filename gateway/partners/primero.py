"""The push of alerts to Primero (MRMIMS+) as MRM incidents, one job per case, idempotent.

Primero's API v2 as its code answers (app/controllers/api/v2/concerns/record.rb,
app/services/error_service.rb): HTTP Basic on every request (no CSRF then);
`POST /api/v2/incidents {"data": {...}}` with a client-chosen lowercase UUID `data.id` answers
204, and 409 when that id exists (read here as "already there": `PATCH /api/v2/incidents/{id}`
then sends the fields again); 401/403: the credentials or the role are wrong, the push stops
and an administrator must act; 422 lists what was refused in `errors[].detail`; 503 may carry
`Retry-After`. Nothing sent ever holds the reporter's words or anything about who reported.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.partners.mrm import (
    MappingError,
    PrimeroMapping,
    in_dataset,
    incident_date,
    load_mapping,
    received_date,
    tally,
)
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    Outcome,
    PrimeroPush,
    PushStatus,
    Verification,
    utcnow,
)
from workers.enqueue import enqueue_primero_push, schedule_primero_retry

log = logging.getLogger(__name__)

MODULE_ID = "primeromodule-mrm"
INCIDENTS = "/api/v2/incidents"
TIMEOUT = (5.0, 30.0)  # seconds to connect, to read an answer
MAX_RETRY_AFTER = 3600.0  # a Retry-After longer than this is not waited for in full
MAX_ERRORS, MAX_ERROR_LENGTH = 20, 200
FINAL = (PushStatus.PUSHED, PushStatus.REFUSED, PushStatus.STOPPED, PushStatus.FAILED)
CREDENTIALS = "GATEWAY_PRIMERO_USER and GATEWAY_PRIMERO_PASSWORD"


def configured(app: Flask) -> bool:
    """Tell whether a Primero server is set (GATEWAY_PRIMERO_URL)."""
    return bool(app.config.get("PRIMERO_URL"))


def mapping_of(app: Flask) -> PrimeroMapping:
    """Read the deployment's mapping file; MappingError says what is wrong."""
    return load_mapping(app.config["PRIMERO_MAPPING"])


def not_pushable(case: Case, mapping: PrimeroMapping) -> str | None:
    """Return why a case is never pushed, or None when it may be."""
    if not in_dataset(case):
        return "only alerts read by a person are pushed (never complaints or help requests)"
    if case.outcome == Outcome.DUPLICATE:
        other = case.duplicate_of.reference if case.duplicate_of else "another case"
        return f"closed as a duplicate of {other}: that case is the incident"
    if not mapping.violations(case.category):
        return f"category {case.category} has no MRM violation in the mapping"
    return None


def due(case: Case) -> bool:
    """Tell whether the desk's work makes an alert due for Primero: verified, or closed as
    reported to the task force."""
    return case.verification == Verification.VERIFIED or case.outcome == Outcome.TASK_FORCE


# Asking for a push ----------------------------------------------------------------------------


def request_push(app: Flask, session: Session, case: Case, by: str) -> bool:
    """Record that a case is to be pushed (its PrimeroPush row); True: queue it after commit.

    Nothing is recorded without GATEWAY_PRIMERO_URL, for anything but an alert, or for an
    alert whose category has no MRM violation. A push waiting already stays as it is (it reads
    the case when it runs); a finished one is made pending again: the case changed.
    """
    if not configured(app) or not in_dataset(case):
        return False
    try:
        if not_pushable(case, mapping_of(app)) is not None:
            return False
    except MappingError:
        pass  # the job stops on it, where `gateway primero status` shows it
    row = session.scalar(select(PrimeroPush).where(PrimeroPush.case_id == case.id))
    if row is None:
        session.add(PrimeroPush(case_id=case.id, incident_id=str(uuid.uuid4()),
                                status=PushStatus.PENDING, attempts=0, errors=[],
                                requested_by=by))
        return True
    row.requested_by = by
    if row.status in FINAL:
        _reopen(row)
    return True


def request_push_if_due(app: Flask, session: Session, case: Case, by: str) -> bool:
    """Call request_push when the desk's action made the alert due (see `due`)."""
    return due(case) and request_push(app, session, case, by)


def push_after_commit(app: Flask, case_id: int) -> bool:
    """Queue a case's push (after the commit of request_push); False when nothing is queued."""
    return configured(app) and enqueue_primero_push(app, case_id)


def _reopen(row: PrimeroPush) -> None:
    row.status = PushStatus.PENDING
    row.attempts = 0
    row.errors = []
    row.status_code = None


# The body -------------------------------------------------------------------------------------


def _violation_id(incident_id: str, kind: str) -> str:
    """Return a stable id, the same for a case's violation (or other item) at every push."""
    return str(uuid.uuid5(uuid.UUID(incident_id), kind))


def incident_fields(case: Case, incident_id: str, mapping: PrimeroMapping) -> dict[str, Any]:
    """Return the MRM incident's fields: coded answers and the desk's verification only."""
    types = mapping.violations(case.category)
    counted = tally(case).as_primero()
    verification = mapping.value("verification", case.verification)
    violation_ids = {kind: _violation_id(incident_id, kind) for kind in types}
    data: dict[str, Any] = {
        "module_id": MODULE_ID,
        "incident_date": incident_date(case).isoformat(),
        "violation_category": list(types),
    }
    if case.location is not None:
        data["incident_location"] = case.location.pcode
    _put_field(data, mapping, "received_date", received_date(case).isoformat())
    if case.incident_from and case.incident_to and case.incident_to != case.incident_from:
        _put_field(data, mapping, "incident_date_end", case.incident_to.isoformat())
        _put_field(data, mapping, "date_range", True)
    for kind in types:
        item: dict[str, Any] = {"unique_id": violation_ids[kind], "violation_tally": counted}
        _put_field(item, mapping, "verification", verification)
        data[kind] = [item]
    linked = list(violation_ids.values())
    perpetrator = mapping.value("perpetrator", case.perpetrator)
    if mapping.field("perpetrator") and perpetrator is not None:
        data["perpetrators"] = [{
            "unique_id": _violation_id(incident_id, "perpetrator"),
            "violations_ids": linked,
            mapping.field("perpetrator"): perpetrator,
        }]
    age_band = mapping.value("age_group", case.age_group)
    if mapping.field("age_group") and age_band is not None:
        data["group_victims"] = [{
            "unique_id": _violation_id(incident_id, "group_victims"),
            "violations_ids": linked,
            mapping.field("age_group"): [age_band],
        }]
    return data


def _put_field(data: dict[str, Any], mapping: PrimeroMapping, slot: str, value: Any) -> None:
    name = mapping.field(slot)
    if name and value is not None:
        data[name] = value


# The job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    """One push taken by this run, in plain values: no transaction spans the HTTP calls."""

    push_id: int
    case_id: int
    incident_id: str
    attempts: int  # with this one
    requested_by: str
    data: dict[str, Any]


@dataclass
class _Answer:
    """What Primero's answers mean for the push."""

    status: PushStatus
    status_code: int | None = None
    errors: list[str] = field(default_factory=list)
    how: str = "created"  # created (204), or updated (409 then PATCH)
    retry_after: float | None = None  # a transient failure: PENDING, with Primero's wish


def push(app: Flask, case_id: int, again: bool = False) -> None:
    """Push one case to Primero and record the outcome as a case event; safe to run twice.

    `again`: a change came while an earlier run was pushing; a finished push is sent again.
    """
    if not configured(app):
        log.warning("case %s: Primero not configured (GATEWAY_PRIMERO_URL), push left pending",
                    case_id)
        return
    claimed = _claim(app, case_id, again)
    if claimed is None:
        return
    if isinstance(claimed, _Answer):
        return  # already recorded: nothing may be sent
    _record(app, claimed, _send(app, claimed))


def _claim(app: Flask, case_id: int, again: bool) -> _Claimed | _Answer | None:
    """Take the case's pending push (once across runs) and write its body; None: nothing to
    do; an _Answer: recorded at once (the mapping or the case forbids sending)."""
    with session_scope(app) as session:
        row = session.scalar(select(PrimeroPush).where(PrimeroPush.case_id == case_id))
        if row is None:
            return None
        if row.status in FINAL:
            if not again:
                return None
            _reopen(row)
            session.flush()
        attempts = row.attempts
        taken = session.execute(
            update(PrimeroPush)
            .where(PrimeroPush.id == row.id, PrimeroPush.status == PushStatus.PENDING,
                   PrimeroPush.attempts == attempts)
            .values(attempts=attempts + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        session.commit()
        if not taken:
            return None
        case = session.get(Case, case_id)
        if case is None:
            return None
        claimed = _Claimed(push_id=row.id, case_id=case_id, incident_id=row.incident_id,
                           attempts=attempts + 1, requested_by=row.requested_by, data={})
        try:
            mapping = mapping_of(app)
        except MappingError as exc:
            log.error("Primero push stopped: %s", exc)
            answer = _Answer(PushStatus.STOPPED, errors=[_short(str(exc))])
        else:
            reason = not_pushable(case, mapping)
            if reason is None:
                return replace(claimed, data=incident_fields(case, row.incident_id, mapping))
            answer = _Answer(PushStatus.REFUSED, errors=[reason])
    _record(app, claimed, answer)
    return answer


def _send(app: Flask, claimed: _Claimed) -> _Answer:
    """POST the incident; on 409 PATCH it; read what the answers mean."""
    base = app.config["PRIMERO_URL"].rstrip("/") + INCIDENTS
    http = requests.Session()
    http.auth = (app.config["PRIMERO_USER"], app.config["PRIMERO_PASSWORD"])
    http.headers.update({"Accept": "application/json"})
    how = "created"
    try:
        answer = http.post(base, json={"data": {"id": claimed.incident_id, **claimed.data}},
                           timeout=TIMEOUT, allow_redirects=False)
        if answer.status_code == 409:  # that id exists: ours, created by an earlier push
            how = "updated"
            answer = http.patch(f"{base}/{claimed.incident_id}", json={"data": claimed.data},
                                timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return _Answer(PushStatus.PENDING, errors=[f"no answer: {type(exc).__name__}"],
                       retry_after=0.0)
    finally:
        http.close()
    return _read(answer, how)


def _read(answer: requests.Response, how: str) -> _Answer:
    code = answer.status_code
    if 200 <= code < 300:
        return _Answer(PushStatus.PUSHED, code, how=how)
    if code in (401, 403):
        return _Answer(PushStatus.STOPPED, code, errors=[f"{code} {answer.reason}"])
    if 300 <= code < 400:
        return _Answer(PushStatus.STOPPED, code,
                       errors=[f"{code}: answered a redirect, check GATEWAY_PRIMERO_URL"])
    if code == 429 or code >= 500:
        return _Answer(PushStatus.PENDING, code, errors=[f"{code} {answer.reason}"],
                       retry_after=_retry_after(answer.headers.get("Retry-After")))
    return _Answer(PushStatus.REFUSED, code, errors=_error_details(answer) or [f"{code}"])


def _error_details(answer: requests.Response) -> list[str]:
    """Return errors[].detail (the refused fields), else errors[].message, shortened."""
    try:
        errors = answer.json().get("errors") or []
    except (ValueError, AttributeError):
        return []
    found: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        detail = error.get("detail") or error.get("message")
        for item in detail if isinstance(detail, list) else [detail]:
            if item:
                found.append(_short(str(item)))
    return found[:MAX_ERRORS]


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _retry_after(header: str | None) -> float | None:
    """Read Retry-After (seconds or an HTTP date) as seconds, capped; None when absent."""
    if not header:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _record(app: Flask, claimed: _Claimed, answer: _Answer) -> None:
    """Record the outcome on the push row and as a case event; schedule a retry if due."""
    delays: list[float] = list(app.config.get("PRIMERO_RETRY_DELAYS") or [])
    retry_in: float | None = None
    if answer.status == PushStatus.PENDING:
        if claimed.attempts > len(delays):
            answer.status = PushStatus.FAILED
            answer.errors = [f"retries exhausted after {claimed.attempts} attempts",
                             *answer.errors]
        else:
            wished = answer.retry_after or 0.0
            retry_in = max(delays[claimed.attempts - 1], wished)
    with session_scope(app) as session:
        row = session.get(PrimeroPush, claimed.push_id)
        if row is None or row.status != PushStatus.PENDING or row.attempts != claimed.attempts:
            return  # a later run took it: its outcome is the one that counts
        row.status = answer.status
        row.status_code = answer.status_code
        row.errors = answer.errors
        if answer.status == PushStatus.PUSHED:
            row.pushed_at = utcnow()
        event = _event(claimed, answer)
        if event is not None:
            session.add(event)
        session.commit()
    _log(claimed, answer, retry_in)
    if retry_in is not None:
        # If Redis refuses, the row stays pending: `gateway primero push REF` queues it again.
        schedule_primero_retry(app, claimed.case_id, claimed.attempts, retry_in)


def _event(claimed: _Claimed, answer: _Answer) -> CaseEvent | None:
    detail: dict[str, Any] = {"incident_id": claimed.incident_id,
                              "status_code": answer.status_code,
                              "requested_by": claimed.requested_by}
    if answer.status == PushStatus.PUSHED:
        return CaseEvent(case_id=claimed.case_id, kind=CaseEventKind.PRIMERO_PUSHED,
                         detail={**detail, "how": answer.how})
    if answer.status == PushStatus.PENDING:
        return None  # not an outcome yet: the retry's will be
    return CaseEvent(case_id=claimed.case_id, kind=CaseEventKind.PRIMERO_REFUSED,
                     detail={**detail, "status": answer.status.value, "errors": answer.errors})


def _log(claimed: _Claimed, answer: _Answer, retry_in: float | None) -> None:
    case_id = claimed.case_id
    if answer.status == PushStatus.PUSHED:
        log.info("case %s pushed to Primero (%s)", case_id, answer.how)
    elif answer.status == PushStatus.STOPPED and answer.status_code == 401:
        log.error("Primero refused the gateway's credentials (401) for case %s: check %s",
                  case_id, CREDENTIALS)
    elif answer.status == PushStatus.STOPPED and answer.status_code == 403:
        log.error("Primero forbids the push of case %s (403): check that the role of "
                  "GATEWAY_PRIMERO_USER may create and update MRM incidents", case_id)
    elif answer.status == PushStatus.STOPPED:
        log.error("Primero push of case %s stopped: %s", case_id, "; ".join(answer.errors))
    elif answer.status == PushStatus.REFUSED:
        log.warning("Primero refused case %s (%s): %s", case_id, answer.status_code,
                    ", ".join(answer.errors))
    elif answer.status == PushStatus.FAILED:
        log.warning("Primero push of case %s failed: %s", case_id, "; ".join(answer.errors))
    else:
        log.warning("Primero push of case %s attempt %d: %s, retry in %ss", case_id,
                    claimed.attempts, "; ".join(answer.errors), retry_in)


# What `gateway primero status` shows ---------------------------------------------------------


def pushes(session: Session) -> list[PrimeroPush]:
    """Return every push row with its case, oldest first."""
    return list(session.scalars(select(PrimeroPush).order_by(PrimeroPush.id)))


def due_not_pushable(session: Session, mapping: PrimeroMapping) -> list[tuple[Case, str]]:
    """Return the alerts the desk made due that are never pushed, each with why."""
    query = (select(Case)
             .where((Case.verification == Verification.VERIFIED)
                    | (Case.outcome == Outcome.TASK_FORCE))
             .where(~Case.id.in_(select(PrimeroPush.case_id)))
             .order_by(Case.id))
    found = []
    for case in session.scalars(query):
        if not in_dataset(case):
            continue  # complaints and help requests: not Primero's, not listed
        reason = not_pushable(case, mapping)
        if reason is not None:
            found.append((case, reason))
    return found
