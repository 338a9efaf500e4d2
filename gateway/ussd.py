"""One USSD hop: pseudonymise, replay or advance the flow, commit any case, answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import current_app
from redis.exceptions import RedisError

from flows import Screen, Submission
from gateway.cases import create_case, source_key
from gateway.conversation import get_engine, get_sessions
from gateway.db import session_scope
from gateway.models import Channel
from gateway.privacy import pseudonym
from gateway.reporters import remember_language, remembered_language
from gateway.sessions import UssdRecord
from workers.enqueue import enqueue_route

log = logging.getLogger(__name__)

Submit = Callable[[Submission], Mapping[str, str]]


def new_inputs(previous: str | None, text: str) -> list[str]:
    """Return the inputs this hop adds to what the session has already answered."""
    if not previous:
        # A new session: text is empty, or pre-filled by a dial string like *384*1234*3#.
        return text.split("*") if text else []
    if text.startswith(previous + "*"):
        return text[len(previous) + 1 :].split("*")
    # Some networks restart `text` after a reset; the last input is the one to answer.
    return [text.rsplit("*", 1)[-1]]


def _submitter(session_id: str, caller: str) -> Submit:
    def submit(submission: Submission) -> Mapping[str, str]:
        with session_scope() as session:
            case, created = create_case(
                session,
                submission,
                pseudonym=caller,
                channel=Channel.USSD,
                key=source_key(Channel.USSD, session_id),
            )
            case_id, reference, urgent = case.id, case.reference, case.is_urgent
        if created:
            log.info("case %s created from USSD", case_id)
            # Only after the commit; if Redis refuses, the case waits for the sweep.
            enqueue_route(case_id, urgent)
        return {"reference": reference}

    return submit


def _advance(
    record: UssdRecord | None, text: str, caller: str, submit: Submit
) -> tuple[dict, Screen]:
    engine = get_engine()
    if record is None:
        # A caller who chose a language before goes straight to the main menu.
        state, screen = engine.begin(remembered_language(caller))
        previous = None
    else:
        state, screen = record.state, Screen(record.screen, record.end)
        previous = record.text
    chosen = state.get("lang")
    for given in new_inputs(previous, text):
        if screen.end:
            break
        state, screen = engine.advance(state, given, submit)
    if state.get("lang") and state.get("lang") != chosen:
        remember_language(caller, state["lang"])
    return state, screen


def answer_hop(*, session_id: str, phone: str, text: str) -> Screen:
    """Answer one hop; whatever fails, the caller gets a proper END screen."""
    engine = get_engine()
    language: str | None = None
    try:
        caller = pseudonym(phone, current_app.config["SECRET_KEY"])
        sessions = get_sessions()
        with sessions.locked(session_id):
            record = sessions.load(session_id)
            if record is not None:
                language = engine.language_of(record.state)
                if text == record.text:
                    # The network sent the same hop again: same screen, no step forward.
                    return Screen(record.screen, record.end)
            state, screen = _advance(record, text, caller, _submitter(session_id, caller))
            language = engine.language_of(state)
            record = UssdRecord(state=state, text=text, screen=screen.text, end=screen.end)
            try:
                sessions.save(session_id, record)
            except RedisError as exc:
                # The case (if any) is committed: the caller still gets their screen.
                log.error("USSD session not saved: %s", type(exc).__name__)
            return screen
    except (RedisError, TimeoutError) as exc:
        log.error("USSD hop failed on Redis: %s", type(exc).__name__)
    except Exception:  # noqa: BLE001 - the last line of defence: never a dead line
        log.exception("USSD hop failed")
    return engine.failure(language)
