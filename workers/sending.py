"""The sending job: one outbox row, one SMS, at most once, with retries on transient errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import click
from flask import Flask, current_app
from sqlalchemy import update

from flows import Catalogs
from flows.gsm import fold_to_gsm7, is_gsm7, sms_segments
from flows.i18n import N_
from gateway.conversation import get_catalogs
from gateway.db import session_scope
from gateway.errors import PermanentSendError, TransientSendError
from gateway.models import Case, CaseEvent, OutboxMessage, OutboxStatus, utcnow
from gateway.providers import SendResult, get_provider
from workers.enqueue import enqueue_send

log = logging.getLogger(__name__)

CLAIMABLE = (OutboxStatus.QUEUED, OutboxStatus.RETRYING)
NOT_SENT_ERROR = "not sent: no provider configured"

# Short names of the categories for the SMS a focal point receives.
CATEGORY_LABELS = {
    # TRANSLATORS: a category in a focal point's SMS (recruitment or use of children by armed
    # forces or groups); this and the next nine category names: keep them short.
    "recruitment": N_("recruitment"),
    "killing": N_("killing"),
    "maiming": N_("maiming"),
    "sexual_violence": N_("sexual violence"),
    "abduction": N_("abduction"),
    "attack_on_schools": N_("attack on school"),
    "attack_on_hospitals": N_("attack on hospital"),
    "denial_humanitarian_access": N_("aid blocked"),
    "deprivation_liberty": N_("detention"),
    "other": N_("other"),
}
# Counts are shown as the caller chose them ("2-3"); only "unknown" has words.
CHILDREN_LABELS = {"1": "1", "2-3": "2-3", "4+": "4+"}
SEX_LABELS = {
    # TRANSLATORS: the children concerned, in a focal point's SMS; this and the next three.
    "girls": N_("girls"),
    "boys": N_("boys"),
    "both": N_("girls and boys"),
    "unknown": N_("sex not known"),
}


def _to_gsm7(text: str) -> str:
    """Fold accents GSM-7 lacks (ç, ô) when that keeps the whole text in GSM-7 (160 a segment)."""
    if is_gsm7(text):
        return text
    folded = fold_to_gsm7(text)
    return folded if is_gsm7(folded) else text


def _render(catalogs: Catalogs, lang: str, urgent: str, fields: dict[str, str]) -> str:
    if urgent == "yes":
        # TRANSLATORS: the SMS a focal point receives (also the next two): keep it within 160
        # characters with a long place name, in GSM letters (é, è, à are; ê, ô, ç are not).
        return catalogs.gettext(
            lang,
            "URGENT child alert %(reference)s: %(category)s, %(place)s. "
            "Children: %(children)s, %(sex)s. Child in danger now.",
            **fields,
        )
    if urgent == "no":
        return catalogs.gettext(
            lang,
            "Child alert %(reference)s: %(category)s, %(place)s. "
            "Children: %(children)s, %(sex)s. Not in danger right now.",
            **fields,
        )
    return catalogs.gettext(
        lang,
        "Child alert %(reference)s: %(category)s, %(place)s. "
        "Children: %(children)s, %(sex)s. Danger now: not known.",
        **fields,
    )


def _places(case: Case, catalogs: Catalogs, lang: str) -> list[str]:
    """Return the ways to name the case's place, longest first."""
    location = case.location
    if location is None:
        # TRANSLATORS: in a focal point's SMS, when the caller did not say where.
        return [catalogs.gettext(lang, "place not known")]
    if location.parent is None:
        return [location.name]
    # TRANSLATORS: a place and the area it is in, e.g. "Bambari (Ouaka)".
    both = catalogs.gettext(lang, "%(place)s (%(area)s)", place=location.name,
                            area=location.parent.name)
    return [both, location.name]


def compose_alert(case: Case, lang: str, catalogs: Catalogs) -> str:
    """Write a focal point's SMS about a case in lang, in one GSM-7 segment when it can."""
    if case.children in CHILDREN_LABELS:
        children = CHILDREN_LABELS[case.children]
    else:
        # TRANSLATORS: in a focal point's SMS, when the caller did not know how many children.
        children = catalogs.gettext(lang, "number not known")
    category = CATEGORY_LABELS.get(case.category, CATEGORY_LABELS["other"])
    fields = {
        "reference": case.reference,
        "category": catalogs.gettext(lang, category),
        "children": children,
        "sex": catalogs.gettext(lang, SEX_LABELS.get(case.sex, SEX_LABELS["unknown"])),
    }
    text = ""
    for place in _places(case, catalogs, lang):
        text = _to_gsm7(_render(catalogs, lang, case.urgent, {**fields, "place": place}))
        if sms_segments(text) == 1:
            break  # otherwise try the shorter name of the place
    return text


def _scrub(text: str, phone: str) -> str:
    """Remove the recipient's number from a provider's error text before it is kept."""
    for form in {phone, phone.lstrip("+")}:
        if form:
            text = text.replace(form, "<recipient>")
    return text[:500]


@dataclass(frozen=True)
class _Outgoing:
    """One claimed message, in plain values, so no database transaction spans the send."""

    outbox_id: int
    case_id: int | None
    focal_point_id: int
    name: str
    to: str
    text: str
    urgent: bool
    attempts: int


def _claim(app: Flask, outbox_id: int) -> _Outgoing | None:
    """Compose the row's SMS and mark it SENDING, committed, unless another run has it."""
    with session_scope(app) as session:
        row = session.get(OutboxMessage, outbox_id)
        if row is None or row.status not in CLAIMABLE:
            return None
        focal_point, case = row.focal_point, row.case
        if case is None:
            return None  # only case alerts exist for now; a row without a case has nothing to say
        lang = focal_point.language or app.config["DEFAULT_LANGUAGE"]
        text = compose_alert(case, lang, get_catalogs(app))
        # Matching the attempts read above too: a run that read the row before another run's
        # attempt cannot send it again now.
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.status.in_(CLAIMABLE),
                OutboxMessage.attempts == row.attempts,
            )
            .values(status=OutboxStatus.SENDING, attempts=row.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if claimed != 1:
            return None
        return _Outgoing(
            outbox_id=outbox_id,
            case_id=row.case_id,
            focal_point_id=focal_point.id,
            name=focal_point.name,
            to=focal_point.phone,
            text=text,
            urgent=row.urgent,
            attempts=row.attempts + 1,
        )


def _finish(
    app: Flask,
    out: _Outgoing,
    status: OutboxStatus,
    event: str,
    *,
    last_error: str | None = None,
    result: SendResult | None = None,
    provider: str | None = None,
) -> None:
    """Record the final outcome of a message and add it to its case's history."""
    with session_scope(app) as session:
        row = session.get(OutboxMessage, out.outbox_id)
        if row is None:
            return
        row.status = status
        row.last_error = last_error
        row.segments = sms_segments(out.text)
        if provider is not None:
            row.provider = provider
        if result is not None:
            row.provider_status_code = result.status_code
            if result.accepted:
                row.provider_message_id = result.message_id
                row.cost = result.cost
                row.sent_at = utcnow()
        detail: dict[str, object] = {
            "outbox_id": out.outbox_id, "focal_point_id": out.focal_point_id
        }
        if status != OutboxStatus.SENT and last_error:
            detail["reason"] = last_error
        if out.case_id is not None:
            session.add(CaseEvent(case_id=out.case_id, kind=event, detail=detail))
        session.commit()


def _retry_or_fail(app: Flask, out: _Outgoing, error: str) -> None:
    """After a transient failure, schedule the next attempt, or fail when none is left."""
    delays: list[float] = list(app.config["SEND_RETRY_DELAYS"])
    retries_done = out.attempts - 1
    if retries_done >= len(delays):
        log.warning("outbox %s failed: retries exhausted after %d attempts",
                    out.outbox_id, out.attempts)
        _finish(app, out, OutboxStatus.FAILED, "sms_failed",
                last_error=f"technical failure: retries exhausted: {error}")
        return
    delay = delays[retries_done]
    with session_scope(app) as session:
        row = session.get(OutboxMessage, out.outbox_id)
        if row is None:
            return
        row.status = OutboxStatus.RETRYING
        row.last_error = error
        session.commit()
    log.warning("outbox %s attempt %d failed (%s): retry in %ss",
                out.outbox_id, out.attempts, error, delay)
    # If Redis refuses, the row stays RETRYING and the sweep queues it once the delay is over.
    enqueue_send(out.outbox_id, out.urgent, app, delay=delay, attempt=out.attempts)


def send_outbox_message(outbox_id: int) -> None:
    """Send one outbox row's SMS through the provider and record what happened; at most once."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    out = _claim(app, outbox_id)
    if out is None:
        return
    provider = get_provider(app)
    try:
        result = provider.send(out.to, out.text)
    except TransientSendError as exc:
        _retry_or_fail(app, out, _scrub(str(exc), out.to))
        return
    except PermanentSendError as exc:
        log.warning("outbox %s refused by the provider", outbox_id)
        _finish(app, out, OutboxStatus.FAILED, "sms_failed",
                last_error=_scrub(str(exc), out.to), provider=provider.name)
        return
    except Exception as exc:  # noqa: BLE001 - the job's boundary: delivery is unknown
        # Whether the provider took it is unknown: never send it again.
        log.error("outbox %s: unexpected %s while sending", outbox_id, type(exc).__name__)
        _finish(app, out, OutboxStatus.FAILED, "sms_failed", provider=provider.name,
                last_error=f"technical failure: {type(exc).__name__}: delivery unknown")
        return
    _record(app, out, result, provider.name)


def _record(app: Flask, out: _Outgoing, result: SendResult, provider: str) -> None:
    """Record the provider's answer for the one recipient."""
    if result.accepted:
        log.info("outbox %s sent (status %s)", out.outbox_id, result.status_code)
        _finish(app, out, OutboxStatus.SENT, "sms_sent", result=result, provider=provider)
    elif result.not_sent:
        _finish(app, out, OutboxStatus.NOT_SENT, "sms_not_sent", last_error=NOT_SENT_ERROR,
                provider=provider)
        # A newcomer running `gateway serve` sees here what would have gone out (no number).
        click.echo(f"SMS not sent (no provider configured) to {out.name}: {out.text}")
    else:
        reason = _scrub(result.status or f"status {result.status_code}", out.to)
        log.warning("outbox %s refused by the provider: %s %s",
                    out.outbox_id, result.status_code, reason)
        _finish(app, out, OutboxStatus.FAILED, "sms_failed", last_error=reason, result=result,
                provider=provider)
