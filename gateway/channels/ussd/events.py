"""USSD session-end notifications: a report the network cut off is saved as a partial case.

Every session's end also writes the caller's chosen language to the reporters table (hops keep
it in Redis only, gateway.channels.reporters).

Africa's Talking posts one when a session ends. A session that ends Incomplete or Failed after
the caller gave a category and a place becomes a partial alert, routed like any other, and its
caller may continue it on their next call (gateway.resume). The event's `input` and
`lastAppResponse` may hold answers: they are never read; the session record in Redis is.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from flows import Submission
from gateway.cases.intake import create_case, source_key
from gateway.channels.relay import RELAY_ANSWER, REPORTER_ONLY, relayer_of
from gateway.channels.reporters import remember_language
from gateway.channels.ussd import get_sessions, resume
from gateway.channels.ussd.sessions import UssdRecord
from gateway.conversation import get_engine
from gateway.privacy.pseudonyms import caller_pseudonym
from gateway.storage.db import session_scope
from gateway.storage.models import Channel
from workers.enqueue import enqueue_route

log = logging.getLogger(__name__)

CUT_STATUSES = frozenset({"Incomplete", "Failed"})
# Flows whose cut sessions make partial cases, and the answers such a case keeps.
PARTIAL_FLOWS = frozenset({"alert"})
PARTIAL_ANSWERS = ("category", "location", "children", "sex", "urgent")
ENDED = "ended"  # key of UssdRecord.extra: the end notification was handled


def is_cut_report(state: dict[str, Any]) -> bool:
    """Tell whether a session stopped in a report after its category and place were given."""
    answers = state.get("answers") or {}
    return (
        state.get("flow") in PARTIAL_FLOWS
        and not state.get("done")
        and "category" in answers
        and "location" in answers  # None: the caller answered "Don't know"
    )


def _save_partial(
    record: UssdRecord, caller: str, phone: str, key: str, status: str
) -> tuple[int, bool, bool, bool]:
    """Commit the partial case; return its id, whether it is new, still partial, urgent."""
    answers = record.state.get("answers") or {}
    kept = {name: answers.get(name) for name in PARTIAL_ANSWERS}
    submission = Submission(
        flow=record.state["flow"], language=get_engine().language_of(record.state), answers=kept
    )
    with session_scope() as session:
        # A focal point's relay cut off stays a relay: no reporter link, nothing of a callback.
        relayer = relayer_of(session, phone) if answers.get(RELAY_ANSWER) else None
        if relayer is not None:
            submission = Submission(
                submission.flow, submission.language,
                {k: v for k, v in kept.items() if k not in REPORTER_ONLY},
            )
        case, created = create_case(
            session, submission, pseudonym="" if relayer is not None else caller,
            channel=Channel.USSD, key=key, partial={"status": status},
            relayed_by=relayer.id if relayer is not None else None,
        )
        return case.id, created, case.partial, case.is_urgent


def _remember_language(record: UssdRecord | None, caller: str) -> None:
    """Write the language the session's caller chose to the database (for SMS replies)."""
    language = record.state.get("lang") if record is not None else None
    if language:
        remember_language(caller, language)


def session_ended(*, session_id: str, phone: str, status: str) -> int | None:
    """Save a report cut off by the network as a partial case; return its id, else None.

    Every session's end also writes the language its caller chose to the reporters table,
    off the hops (which keep it in Redis only). Safe to receive twice: the session record
    remembers that its end was handled.
    """
    caller = caller_pseudonym(phone)
    sessions = get_sessions()
    if status not in CUT_STATUSES:
        _remember_language(sessions.load(session_id), caller)
        return None
    with sessions.locked(session_id):
        record = sessions.load(session_id)
        _remember_language(record, caller)
        if record is None or record.end or record.extra.get(ENDED):
            return None
        if not is_cut_report(record.state):
            return None
        # A resumed session cut again goes on with the case of the first one.
        key = record.extra.get(resume.RESUMED_KEY) or source_key(Channel.USSD, session_id)
        cut = resume.Resumable(state=record.state, screen=record.screen, key=key,
                               saved_at=time.time())
        try:
            case_id, created, partial, urgent = _save_partial(
                record, caller, phone, key, status
            )
        except SQLAlchemyError as exc:
            # The caller can still continue and send it; the case is made then.
            log.error("partial case not committed: %s", type(exc).__name__)
            resume.keep(caller, cut)
            return None
        record.extra[ENDED] = status
        sessions.save(session_id, record)
    if created:
        log.info("partial case %s saved from a USSD session ended %s", case_id, status)
        enqueue_route(current_app, case_id, urgent)
    if partial:
        resume.keep(caller, cut)
    return case_id
