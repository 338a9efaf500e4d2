"""One USSD hop: pseudonymise, replay or advance the flow, commit any case, answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from flows import Screen, Submission
from flows.gsm import fits_ussd
from flows.render import END, fit_end
from gateway.cases.intake import HEALTH_END, points_to_health, source_key
from gateway.cases.references import new_reference
from gateway.cases.spool import spool_case
from gateway.channels.relay import (
    FOCAL_POINT,
    REPORTER_ONLY,
    file_relay,
    is_relay,
    may_relay,
    relayer_of,
)
from gateway.channels.reporters import language_key, language_seconds
from gateway.channels.submit import STATUS_FLOW, answer_status, file_report, route
from gateway.channels.ussd import get_sessions, resume
from gateway.channels.ussd.sessions import Memo, OverLimit, UssdRecord
from gateway.conversation import get_catalogs, get_engine
from gateway.privacy.limits import Limit, caller_counter, caller_refused
from gateway.privacy.pseudonyms import caller_pseudonym
from gateway.storage.db import session_scope
from gateway.storage.models import Channel

log = logging.getLogger(__name__)

Submit = Callable[[Submission], Mapping[str, str]]


class AddressOverLimit(Exception):
    """The hop's source address is over its rate limit (counted in the hop's first trip)."""


def new_inputs(previous: str | None, text: str) -> list[str]:
    """Return the inputs this hop adds to what the session has already answered."""
    if not previous:
        # A new session: text is empty, or pre-filled by a dial string like *384*1234*3#.
        return text.split("*") if text else []
    if text.startswith(previous + "*"):
        return text[len(previous) + 1 :].split("*")
    # Some networks restart `text` after a reset; the last input is the one to answer.
    return [text.rsplit("*", 1)[-1]]


def _submitter(
    session_id: str, caller: str, phone: str, resumed_key: str | None = None
) -> Submit:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def submit(submission: Submission) -> Mapping[str, str]:
        if submission.flow == STATUS_FLOW:
            with session_scope(app) as session:
                return answer_status(app, session, caller, submission)
        # A session resuming a cut report completes that report's case.
        key = resumed_key or source_key(Channel.USSD, session_id)
        # Drawn before the commit, so a case spooled while the database is down keeps it.
        reference = new_reference()
        try:
            with session_scope(app) as session:
                # A focal point reporting for someone else: checked again now, not trusted.
                by = relayer_of(session, phone) if is_relay(submission) else None
                if by is not None:
                    filed = file_relay(app, session, submission, by=by, channel=Channel.USSD,
                                       key=key, reference=reference)
                else:
                    filed = file_report(app, session, submission, pseudonym=caller,
                                        channel=Channel.USSD, key=key, number=phone,
                                        reference=reference)
        except SQLAlchemyError as exc:
            log.error("case not committed, spooled: %s", type(exc).__name__)
            if is_relay(submission):
                # A focal point's relay: never spooled as their own report (no reporter link,
                # nothing of a callback); who relayed it cannot be checked until the database
                # is back, so the case keeps only that it was relayed.
                submission = Submission(submission.flow, submission.language, {
                    k: v for k, v in submission.answers.items() if k not in REPORTER_ONLY
                })
            spool_case(submission, pseudonym="" if is_relay(submission) else caller,
                       channel=Channel.USSD, key=key, reference=reference, app=app)
            return {"reference": reference, **points_to_health(submission)}
        if filed.created:
            log.info("case %s created from USSD", filed.case_id)
        route(app, filed)  # only after the commit
        return filed.answer(submission)

    return submit


def _flags(phone: str) -> tuple[str, ...]:
    """Return the flags a new session begins with: a focal point's number may relay.

    One indexed query, at dial only: the flag is kept in the session's state for later hops.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with session_scope(app) as session:
            return (FOCAL_POINT,) if may_relay(session, phone) else ()
    except SQLAlchemyError as exc:
        # The database down: the call goes on, without the relay option.
        log.warning("focal point lookup failed at dial: %s", type(exc).__name__)
        return ()


def _advance(
    record: UssdRecord | None, text: str, submit: Submit, phone: str = ""
) -> tuple[dict, Screen]:
    engine = get_engine()
    if record is None:
        # Every call begins with the language choice, whatever the number did before: a screen
        # must not show that a phone was used. So a session whose state was lost is replayed
        # from its first input, and a dial string such as *384*1234*2# answers the choice.
        # (A focal point's number also sees "Report for someone else" on the main menu.)
        state, screen = engine.begin(None, flags=_flags(phone) if phone else ())
        previous = None
    else:
        state, screen = record.state, Screen(record.screen, record.end)
        previous = record.text
    for given in new_inputs(previous, text):
        if screen.end:
            break
        state, screen = engine.advance(state, given, submit)
    return state, screen


def _language_memo(before: UssdRecord | None, state: dict, caller: str) -> Memo | None:
    """Return the caller's language to keep beside the session when this hop chose it.

    Kept for the replies to the reporter's SMS only (USSD never reads it back), in Redis by a
    digest of the pseudonym, in the hop's save script: no database work on the hop.
    """
    lang = state.get("lang")
    if not lang or (before is not None and before.state.get("lang") == lang):
        return None
    return Memo(language_key(caller), lang, language_seconds())


def _try_later(record: UssdRecord | None) -> Screen:
    """The END screen of a caller over their rate limit, in the session's language."""
    engine = get_engine()
    # A new session has chosen nothing yet: the default language, never a remembered one.
    lang = engine.language_of(record.state if record else {})
    # TRANSLATORS: the caller sent too many requests in a short time; the session ends.
    text = get_catalogs().gettext(lang, "Too many tries in a short time. Please dial again later.")
    return Screen(text=fit_end(text), end=True)


def answer_hop(
    *, session_id: str, phone: str, text: str, address_limit: Limit | None = None
) -> Screen:
    """Answer one hop; whatever fails, the caller gets a proper END screen.

    address_limit: the source address's rate counter, counted with the session's lock in one
    trip (gateway.web.guard.counts_address_itself); over it, AddressOverLimit is raised.
    """
    engine = get_engine()
    language: str | None = None
    try:
        caller = caller_pseudonym(phone)
        sessions = get_sessions()
        with sessions.hop(session_id, address_limit, caller_counter(caller, "ussd")) as hop:
            record = hop.record
            if record is not None:
                language = engine.language_of(record.state)
                if text == record.text:
                    # The network sent the same hop again: same screen, no step forward.
                    return Screen(record.screen, record.end)
            answered = resume.answer(record, text, caller)
            if answered is None:
                extra = record.extra if record is not None else {}
                submit = _submitter(session_id, caller, phone, extra.get(resume.RESUMED_KEY))
                state, screen = _advance(record, text, submit, phone)
                offered = resume.offer(record, state, caller)
                if offered is not None:
                    # The language is chosen: a cut report of this caller may be continued.
                    state, screen, extra = offered
                if screen.end and state.get("params", {}).get("health"):
                    # Sexual violence within 72 hours: the last screen points to health care.
                    params = state["params"]
                    lang = engine.language_of(state)
                    reference = params.get("reference", "")
                    # The nearest service, when its line (fitted to the flow's last screen)
                    # also fits this one; the reference and the health hint come first.
                    text_end = engine.translate(lang, HEALTH_END, reference=reference,
                                                service=params.get("service", ""))
                    if not fits_ussd(END + text_end):
                        text_end = engine.translate(lang, HEALTH_END, reference=reference,
                                                    service="")
                    screen = Screen(fit_end(text_end), end=True)
            else:
                state, screen, extra = answered
            language = engine.language_of(state)
            memo = _language_memo(hop.record, state, caller)
            record = UssdRecord(
                state=state, text=text, screen=screen.text, end=screen.end, extra=extra
            )
            try:
                hop.save(record, memo)
            except RedisError as exc:
                # The case (if any) is committed: the caller still gets their screen.
                log.error("USSD session not saved: %s", type(exc).__name__)
            return screen
    except OverLimit as over:
        if over.limit is not None and over.limit == address_limit:
            raise AddressOverLimit() from None
        caller_refused("ussd")
        return _try_later(over.record)
    except (RedisError, TimeoutError) as exc:
        log.error("USSD hop failed on Redis: %s", type(exc).__name__)
    except Exception:  # noqa: BLE001 - the last line of defence: never a dead line
        log.exception("USSD hop failed")
    return engine.failure(language)
