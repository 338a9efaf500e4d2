"""Sending one outbox row: one SMS, at most once, at the channel's rate, retried if it may work."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from flows.gsm import sms_segments
from gateway.cases.escalation import next_stage
from gateway.cases.messages import compose_for
from gateway.conversation import get_engine
from gateway.delivery.failures import count_send_failure, failure_reason
from gateway.delivery.providers import SendResult, get_provider, send_via
from gateway.delivery.throttle import get_throttle
from gateway.errors import PermanentSendError, TransientSendError
from gateway.storage.crypto import DecryptError, decrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    FocalPoint,
    Location,
    OutboxMessage,
    OutboxPurpose,
    OutboxStatus,
    utcnow,
)
from workers.enqueue import enqueue_send, enqueue_sends, escalate_now

log = logging.getLogger(__name__)

CLAIMABLE = (OutboxStatus.QUEUED, OutboxStatus.RETRYING)
NOT_SENT_ERROR = "not sent: no provider configured"
# Messages whose row names a focal point; the others (replies, acknowledgements) carry their
# number encrypted, and go to a reporter unless that number is a focal point's (a command's reply).
FOCAL_POINT_PURPOSES = frozenset({
    OutboxPurpose.CASE_ALERT, OutboxPurpose.FLOOD_SUMMARY, OutboxPurpose.ESCALATION_1,
    OutboxPurpose.ESCALATION_2, OutboxPurpose.COMMAND_ALERT, OutboxPurpose.DIGEST,
})
# A focal point deactivated after their message was queued: it is never sent.
RECIPIENT_DEACTIVATED = "recipient deactivated"
# Seconds a send waiting its turn stays away: at least a little (no busy loop), at most a
# while, then it checks its place again (the sweep leaves alone a row touched within a minute).
MIN_WAIT, MAX_WAIT = 0.2, 30.0
# A routing job sends its case's messages itself for at most this long (one job per case, not
# one per message); what is left then goes to send jobs of its own. With at most one more send
# begun (Africa's Talking's SDK times out after about 12 s, the Android phone's client after
# 25, a paced send sleeps 1 s at most), the routing job ends within its timeout
# (workers/enqueue.py ROUTE_TIMEOUT, 30 s).
INLINE_BUDGET = 3.0
# What a final outcome adds to its case's history.
EVENTS = {
    OutboxStatus.SENT: CaseEventKind.SMS_SENT,
    OutboxStatus.NOT_SENT: CaseEventKind.SMS_NOT_SENT,
    OutboxStatus.FAILED: CaseEventKind.SMS_FAILED,
}

def _scrub(text: str, phone: str) -> str:
    """Remove the recipient's number from a provider's error text before it is kept."""
    for form in {phone, phone.lstrip("+")}:
        if form:
            text = text.replace(form, "<recipient>")
    return text[:500]


@dataclass(frozen=True)
class _Outgoing:
    """One message ready to go, in plain values, so no database transaction spans the send.

    A reporter's number and words live here, decrypted, for the one send: never logged.
    """

    outbox_id: int
    case_id: int | None
    focal_point_id: int | None
    name: str
    to: str
    text: str
    urgent: bool
    attempts: int  # attempts made before this one
    purpose: OutboxPurpose = OutboxPurpose.CASE_ALERT

    @property
    def to_reporter(self) -> bool:
        return self.focal_point_id is None

    @cached_property
    def segments(self) -> int:
        return sms_segments(self.text)


def _compose(app: Flask, row: OutboxMessage) -> tuple[str, str, str] | None:
    """Return the row's (name, number, text), or None when it has nothing to send."""
    if row.focal_point is not None:
        if row.case is None:
            if row.purpose == OutboxPurpose.DIGEST and row.body is not None:
                # The weekly digest (trends/digest.py): counts only, written when queued.
                return row.focal_point.name, row.focal_point.phone, decrypt(row.body, app)
            return None  # a focal point's SMS is about a case; a row without one says nothing
        focal_point = row.focal_point
        lang = focal_point.language or app.config["DEFAULT_LANGUAGE"]
        fold = lang in get_engine(app).gsm_fold_languages
        text = compose_for(app, row.case, focal_point, row.purpose, lang, fold)
        return focal_point.name, focal_point.phone, text
    if row.recipient is None or row.body is None:
        return None
    # The words were written and folded to GSM-7 when queued (cases/outbox.py).
    return "a reporter", decrypt(row.recipient, app), decrypt(row.body, app)


# The row, its focal point, its case and the case's place in one query.
_COMPOSE_LOAD = (
    joinedload(OutboxMessage.focal_point),
    joinedload(OutboxMessage.case).joinedload(Case.location).joinedload(Location.parent),
)


def _prepare(app: Flask, outbox_id: int) -> _Outgoing | None:
    """Read the row and write its SMS, unless it is gone, final, taken, or its recipient left."""
    with session_scope(app) as session:
        row = session.get(OutboxMessage, outbox_id, options=_COMPOSE_LOAD)
        if row is None or row.status not in CLAIMABLE:
            return None
        if row.focal_point is not None and not row.focal_point.active:
            # Deactivated since it was queued: never sent. Failed like a delivery that did not
            # reach them, once (another run may be here too), so escalation moves on at once.
            failed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(CLAIMABLE),
                       OutboxMessage.attempts == row.attempts)
                .values(status=OutboxStatus.FAILED, last_error=RECIPIENT_DEACTIVATED)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
            case_id = row.case_id
            if failed and case_id is not None:
                session.add(CaseEvent(case_id=case_id, kind=CaseEventKind.SMS_FAILED, detail={
                    "outbox_id": outbox_id, "focal_point_id": row.focal_point_id,
                    "reason": RECIPIENT_DEACTIVATED,
                }))
            session.commit()
            stage = next_stage(session, case_id) if failed and case_id is not None else None
            log.warning("outbox %s failed: %s", outbox_id, RECIPIENT_DEACTIVATED)
            if stage is not None and case_id is not None:
                escalate_now(app, case_id, stage)
            return None
        try:
            composed = _compose(app, row)
        except DecryptError:
            composed = None
            error = "technical failure: no configured key opens the recipient"
        else:
            error = "nothing to send: no recipient or no text"
        if composed is None:
            if row.focal_point_id is None:
                _erase(row, OutboxStatus.FAILED, error)
                session.commit()
                log.warning("outbox %s failed: %s", outbox_id, error)
            return None
        name, to, text = composed
        return _Outgoing(
            outbox_id=outbox_id,
            case_id=row.case_id,
            focal_point_id=row.focal_point_id,
            name=name,
            to=to,
            text=text,
            urgent=row.urgent,
            attempts=row.attempts,
            purpose=row.purpose,
        )


def _claim(app: Flask, out: _Outgoing) -> bool:
    """Mark the row SENDING, committed, unless another run has taken it since it was read."""
    with session_scope(app) as session:
        # Matching the attempts read before: a run that read the row before another run's
        # attempt cannot send it again now.
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == out.outbox_id,
                OutboxMessage.status.in_(CLAIMABLE),
                OutboxMessage.attempts == out.attempts,
            )
            .values(status=OutboxStatus.SENDING, attempts=out.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        return claimed == 1


def _wait_turn(app: Flask, out: _Outgoing, deferral: int, slot: float | None) -> bool:
    """Wait (a second at most) for the channel's rate to allow the SMS; False if queued later."""
    turn = get_throttle(app).reserve(out.segments, out.urgent, slot)
    if turn.later is None:
        if turn.sleep > 0:
            time.sleep(turn.sleep)
        return True
    with session_scope(app) as session:
        # Touched, so the sweep does not queue it again while it waits its turn.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == out.outbox_id, OutboxMessage.status.in_(CLAIMABLE),
                   OutboxMessage.attempts == out.attempts)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    enqueue_send(app, out.outbox_id, out.urgent, delay=min(max(turn.later, MIN_WAIT), MAX_WAIT),
                 attempt=out.attempts, deferral=deferral + 1, slot=turn.slot)
    return False


def _erase(row: OutboxMessage, status: OutboxStatus, last_error: str | None) -> None:
    """Make a row final; a reporter's number and words go with it."""
    row.status = status
    row.last_error = last_error
    row.recipient = None
    row.body = None


def _finish(
    app: Flask,
    out: _Outgoing,
    status: OutboxStatus,
    *,
    last_error: str | None = None,
    result: SendResult | None = None,
    provider: str | None = None,
) -> None:
    """Record the final outcome of a message and add it to its case's history."""
    values: dict[str, object] = {
        "status": status, "last_error": last_error, "segments": out.segments,
    }
    if out.to_reporter:
        values.update(recipient=None, body=None)  # the number must not outlive the message
    if provider is not None:
        values["provider"] = provider
    if result is not None:
        values["provider_status_code"] = result.status_code
        if result.accepted:
            values.update(provider_message_id=result.message_id, cost=result.cost,
                          sent_at=utcnow())
    with session_scope(app) as session:
        # One UPDATE, not a read then a write: the row is not loaded again.
        changed = session.execute(
            update(OutboxMessage).where(OutboxMessage.id == out.outbox_id).values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            return
        detail: dict[str, object] = {"outbox_id": out.outbox_id}
        if out.to_reporter:
            detail["purpose"] = out.purpose
        else:
            detail["focal_point_id"] = out.focal_point_id
        if status != OutboxStatus.SENT and last_error:
            detail["reason"] = last_error
        if out.case_id is not None:
            session.add(CaseEvent(case_id=out.case_id, kind=EVENTS[status], detail=detail))
        session.commit()
        # A focal point not reached: the case's next escalation stage starts at once.
        stage = (next_stage(session, out.case_id)
                 if status == OutboxStatus.FAILED and out.case_id and not out.to_reporter
                 else None)
    if stage is not None and out.case_id is not None:
        escalate_now(app, out.case_id, stage)


def _retry_or_fail(app: Flask, out: _Outgoing, error: str) -> None:
    """After a transient failure, schedule the next attempt, or fail when none is left."""
    delays: list[float] = list(app.config["SEND_RETRY_DELAYS"])
    attempts = out.attempts + 1
    if attempts - 1 >= len(delays):
        log.warning("outbox %s failed: retries exhausted after %d attempts",
                    out.outbox_id, attempts)
        count_send_failure(app, "retries_exhausted")
        _finish(app, out, OutboxStatus.FAILED,
                last_error=f"technical failure: retries exhausted: {error}")
        return
    delay = delays[attempts - 1]
    with session_scope(app) as session:
        row = session.get(OutboxMessage, out.outbox_id)
        if row is None:
            return
        row.status = OutboxStatus.RETRYING
        row.last_error = error
        session.commit()
    log.warning("outbox %s attempt %d failed (%s): retry in %ss",
                out.outbox_id, attempts, error, delay)
    # If Redis refuses, the row stays RETRYING and the sweep queues it once the delay is over.
    enqueue_send(app, out.outbox_id, out.urgent, delay=delay, attempt=attempts)


def send(app: Flask, outbox_id: int, deferral: int = 0, slot: float | None = None) -> None:
    """Send one outbox row's SMS through the provider and record what happened; at most once.

    The channel's rate is kept first: a send whose turn is far off is queued again
    (`deferral`, `slot`: its place in line) instead of holding the worker.
    """
    out = _prepare(app, outbox_id)
    if out is None or not _wait_turn(app, out, deferral, slot) or not _claim(app, out):
        return
    provider = get_provider(app)
    try:
        result = send_via(provider, out.to, out.text, out.outbox_id)
    except TransientSendError as exc:
        count_send_failure(app, failure_reason(str(exc)))
        _retry_or_fail(app, out, _scrub(str(exc), out.to))
        return
    except PermanentSendError as exc:
        count_send_failure(app, "provider_rejected")
        log.warning("outbox %s refused by the provider", outbox_id)
        _finish(app, out, OutboxStatus.FAILED,
                last_error=_scrub(str(exc), out.to), provider=provider.name)
        return
    except Exception as exc:  # noqa: BLE001 - the job's boundary: delivery is unknown
        # Whether the provider took it is unknown: never send it again.
        count_send_failure(app, "unexpected")
        log.error("outbox %s: unexpected %s while sending", outbox_id, type(exc).__name__)
        _finish(app, out, OutboxStatus.FAILED, provider=provider.name,
                last_error=f"technical failure: {type(exc).__name__}: delivery unknown")
        return
    _record(app, out, result, provider.name)


def send_routed(app: Flask, outbox_ids: Sequence[int], urgent: bool) -> None:
    """Send a just-routed case's messages from its routing job, each as its send job would.

    One job per case instead of one per message: each row is still claimed, paced, retried
    (a retry is a send job of its own) and recorded alone. What is left when the budget is
    spent, or after an unexpected error, is queued as ordinary send jobs.
    """
    started = time.monotonic()
    for index, outbox_id in enumerate(outbox_ids):
        if time.monotonic() - started > INLINE_BUDGET:
            enqueue_sends(app, ((row_id, urgent) for row_id in outbox_ids[index:]))
            return
        try:
            send(app, outbox_id)
        except Exception as exc:  # noqa: BLE001 - the job's boundary: the rest still goes out
            # Only the class: a database error's text may hold the row's values.
            log.error("outbox %s: %s while sent by its routing job: queued as send jobs",
                      outbox_id, type(exc).__name__)
            # A row this run claimed is not claimable again: the sweep's interrupted path
            # decides its fate, as after a send job that failed the same way.
            enqueue_sends(app, ((row_id, urgent) for row_id in outbox_ids[index:]))
            return


def _record(app: Flask, out: _Outgoing, result: SendResult, provider: str) -> None:
    """Record the provider's answer for the one recipient."""
    if result.accepted:
        log.info("outbox %s sent (status %s, %d segments)",
                 out.outbox_id, result.status_code, out.segments)
        _finish(app, out, OutboxStatus.SENT, result=result, provider=provider)
    elif result.not_sent:
        _finish(app, out, OutboxStatus.NOT_SENT, last_error=NOT_SENT_ERROR,
                provider=provider)
        _log_not_sent(app, out)
    else:
        reason = _scrub(result.status or f"status {result.status_code}", out.to)
        count_send_failure(app, f"provider_status_{result.status_code}")
        log.warning("outbox %s refused by the provider: %s %s",
                    out.outbox_id, result.status_code, reason)
        _finish(app, out, OutboxStatus.FAILED, last_error=reason, result=result,
                provider=provider)


def _focal_point_name(app: Flask, out: _Outgoing) -> str | None:
    """Return the name of the focal point the SMS goes to, None when it goes to a reporter."""
    if not out.to_reporter:
        return out.name
    if out.purpose in FOCAL_POINT_PURPOSES:
        return "a focal point"
    # A reply to a focal point's command (OK, INFO...) is queued like a reporter's reply.
    with session_scope(app) as session:
        return session.scalar(
            select(FocalPoint.name).where(FocalPoint.phone == out.to).order_by(FocalPoint.id)
            .limit(1)
        )


def _demo(app: Flask) -> bool:
    """Tell whether this is the embedded default (SQLite): `gateway serve`'s worker is given
    the demo's database and Redis as URLs; a deployment runs PostgreSQL."""
    return bool(app.config.get("EMBEDDED")) or str(app.config["DATABASE_URL"]).startswith(
        "sqlite"
    )


def _log_not_sent(app: Flask, out: _Outgoing) -> None:
    """Say an SMS was kept unsent: never the number; the words only to a focal point, on the
    embedded default (how the demo shows its alerts); nothing of a reporter's message."""
    focal_point = _focal_point_name(app, out)
    if focal_point is None:
        log.warning("outbox %s not sent, no provider configured: SMS to a reporter (%s)",
                    out.outbox_id, out.purpose)
    elif _demo(app) and out.purpose != OutboxPurpose.CONTACT:  # that one holds a number
        log.warning("outbox %s not sent, no provider configured: SMS to %s (%s): %s",
                    out.outbox_id, focal_point, out.purpose, out.text)
    else:
        log.warning("outbox %s not sent, no provider configured: SMS to %s (%s)",
                    out.outbox_id, focal_point, out.purpose)
