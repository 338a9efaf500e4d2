"""A focal point's commands by SMS: OK, INFO and DONE (their words are in cases/messages.py).

`OK 4821937` acknowledges (the reporter's neutral SMS goes if they asked for it), `INFO 4821937`
sends the case's SMS again, `DONE 4821937` closes it. Only a focal point the case was routed to,
or the coordinator of its area (never for a complaint), may act; anyone else gets one neutral
answer, and the attempt is recorded in the case's history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.digits import only_digits
from flows.engine import fold_words
from gateway.cases.follow_up import mark_followed_up
from gateway.cases.messages import (
    ACK_REPLY,
    COMMANDS,
    DONE_REPLY,
    NEUTRAL_REPLY,
    USAGE_REPLY,
    compose_for,
)
from gateway.cases.references import is_valid
from gateway.cases.routing import levels_covering
from gateway.conversation import first_word, get_catalogs, get_engine, keyword_words
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    FocalPoint,
    OutboxMessage,
    Role,
    utcnow,
)

log = logging.getLogger(__name__)

# Commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A focal point's command: the action and the reference typed after it."""

    action: str
    reference: str


@dataclass(frozen=True)
class Answer:
    """The reply to a focal point, and the reporter SMS an acknowledgement queued."""

    text: str
    lang: str
    outbox_ids: tuple[int, ...] = ()


def parse(app: Flask, text: str) -> Command | None:
    """Return the command an SMS is ("OK 4821937"), in any offered language, or None."""
    first, _, rest = text.strip().partition(" ")
    folded = fold_words(first)
    if not folded:
        return None
    catalogs = get_catalogs(app)
    for lang in ["en", *app.config["LANGUAGES"]]:
        for action, msgid in COMMANDS.items():
            words = keyword_words(catalogs, lang, msgid)
            if folded in {fold_words(word) for word in words}:
                return Command(action, only_digits(rest))
    return None


def senders(session: Session, phone: str) -> list[FocalPoint]:
    """Return the active focal point rows (one per role) of a phone number."""
    return list(session.scalars(
        select(FocalPoint).where(FocalPoint.phone == phone, FocalPoint.active.is_(True))
    ))


def may_act(session: Session, case: Case, points: Iterable[FocalPoint]) -> FocalPoint | None:
    """Return the sender's row that may act on the case: a recipient, or the area's coordinator."""
    points = list(points)
    routed = set(session.scalars(
        select(OutboxMessage.focal_point_id).where(OutboxMessage.case_id == case.id)
    ))
    for fp in points:
        if fp.id in routed and (case.kind != CaseKind.COMPLAINT
                                or fp.role in (Role.CONDUCT, Role.ASSISTANCE)):
            return fp
    if case.kind == CaseKind.COMPLAINT or case.needs_triage:
        # Restricted: a complaint to conduct (and assistance), a sender's own words to triage.
        return None
    ids = {fp.id for fp in points if fp.role == Role.COORDINATOR}
    if ids:
        for level in levels_covering(session, case, Role.COORDINATOR).values():
            for fp in level:
                if fp.id in ids:
                    return fp
    return None


def answer(app: Flask, session: Session, points: list[FocalPoint], text: str) -> Answer:
    """Carry out a focal point's SMS command; the caller commits, then sends outbox_ids."""
    lang = next((fp.language for fp in points if fp.language), None) or app.config[
        "DEFAULT_LANGUAGE"]
    catalogs = get_catalogs(app)
    command = parse(app, text)
    if command is None:
        words = {key: first_word(catalogs, lang, msgid) for key, msgid in COMMANDS.items()}
        return Answer(catalogs.gettext(lang, USAGE_REPLY, **words), lang)
    reference = command.reference
    case = session.scalar(select(Case).where(Case.reference == reference)) if is_valid(
        reference) else None
    actor = may_act(session, case, points) if case is not None else None
    if case is None or actor is None:
        if case is not None:
            session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.UNAUTHORISED_COMMAND, detail={
                "command": command.action, "focal_point_ids": [fp.id for fp in points],
            }))
        log.warning("focal point command refused (%s)", command.action)
        return Answer(catalogs.gettext(lang, NEUTRAL_REPLY, reference=reference), lang)
    by = f"focal_point:{actor.id}"
    if command.action == "info":
        fold = lang in get_engine(app).gsm_fold_languages
        return Answer(compose_for(app, case, actor, "info", lang, fold), lang)
    result = mark_followed_up(app, session, case, by=by)
    if command.action == "done":
        if case.closed_at is None:
            case.closed_at = utcnow()
            case.events.append(CaseEvent(kind=CaseEventKind.CLOSED, detail={"by": by}))
        return Answer(catalogs.gettext(lang, DONE_REPLY, reference=reference), lang,
                      result.outbox_ids)
    return Answer(catalogs.gettext(lang, ACK_REPLY, reference=reference), lang,
                  result.outbox_ids)


def handle(app: Flask, session: Session, phone: str, text: str) -> Answer | None:
    """Answer an SMS from a focal point's phone, or a focal point command from anyone else.

    None: neither, the SMS is a reporter's like any other.
    """
    points = senders(session, phone)
    if points:
        return answer(app, session, points, text)
    command = parse(app, text)
    if command is None or not is_valid(command.reference):
        return None
    case = session.scalar(select(Case).where(Case.reference == command.reference))
    if case is not None:
        session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.UNAUTHORISED_COMMAND,
                              detail={"command": command.action, "sender": "not a focal point"}))
    log.warning("focal point command from an unknown sender refused (%s)", command.action)
    lang = app.config["DEFAULT_LANGUAGE"]
    return Answer(get_catalogs(app).gettext(lang, NEUTRAL_REPLY, reference=command.reference),
                  lang)
