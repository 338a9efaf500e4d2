"""A focal point's commands by SMS: OK, INFO, DONE and CONDUCT (their words are in messages.py).

`OK 4821937` acknowledges (the reporter's neutral SMS goes if they asked for it), `INFO 4821937`
sends the case's SMS again (an alert's with what the reporter wrote, to a focal point it was sent
to), `DONE 4821937` closes it, `CONDUCT 4821937` (triage only) moves a case
to triage to the conduct focal points. Caller IDs are spoofed: a command that changes a case only
gets a one-time code, sent to the registered number (where every reply goes), and acts once sent
again with it: `DONE 4821937 5831`. A code is four random digits, kept hashed in Redis for 30
minutes under a key of ids only, bound to one focal point, one case and one command, used once.

Only a focal point the case was routed to, or the coordinator of its area (never for a complaint
nor a case to triage), may act; on a complaint only `conduct` acknowledges for good or closes
(`assistance` acknowledging is recorded, and the conduct escalation goes on). Anyone else, a
wrong or expired code, an unknown case: one neutral answer, the try recorded in the case's
history; past three tries on a case its area's coordinator (a complaint, a case to triage: the
nearest focal points of its own role) is told once. Commands are limited per number.

`SAME 4821937 7654321` (confirmed by code too) marks the later of two cases a duplicate of the
earlier: only from a number both were sent to (a complaint: `conduct` only); see links.py.

OK and DONE act through actions.py, the very code of the desk's Acknowledge and Close.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.digits import only_digits
from flows.engine import fold_words
from gateway.cases import actions
from gateway.cases.contact import erase_contact
from gateway.cases.links import confirm, in_order, may_confirm
from gateway.cases.messages import (
    ACK_REPLY,
    COMMANDS,
    CONFIRM_REPLY,
    CONFIRMED_COMMANDS,
    DONE_REPLY,
    MOVED_REPLY,
    NEUTRAL_REPLY,
    SAME_REPLY,
    SLOW_REPLY,
    USAGE_REPLY,
    compose_info,
)
from gateway.cases.references import is_valid
from gateway.cases.routing import levels_covering
from gateway.conversation import first_word, get_catalogs, get_engine, keyword_words
from gateway.privacy.limits import count_refusal, hit
from gateway.privacy.numbers import e164
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    FocalPoint,
    Level,
    OutboxMessage,
    OutboxPurpose,
    Role,
)
from gateway.storage.redis import get_redis

log = logging.getLogger(__name__)

CODE_DIGITS = 4
CODE_SECONDS = 30 * 60
CODE_PREFIX = "gateway:confirm"
# Commands per number and hour, confirmations included: a busy hour's 15 confirmed acknowledgements
# get through, while a spoofer guessing a 4-digit code gets about 15 tries on it in its 30 minutes
# (and three wrong tries on a case tell the coordinator).
COMMAND_LIMIT = (30, 3600)
LIMIT_NAME = "focal_command"
ALERT_AFTER = 3  # unauthorised tries on one case before its area's coordinator is told

# Commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A focal point's command: the action, the reference typed after it, and any code."""

    action: str
    reference: str
    code: str = ""
    other: str = ""  # SAME's second reference


@dataclass(frozen=True)
class Answer:
    """The reply to a focal point, the other SMS to send, and a case to route again."""

    text: str
    lang: str
    outbox_ids: tuple[int, ...] = ()
    route: tuple[tuple[int, str, bool], ...] = ()  # (case id, reference, urgent)


def split_code(rest: str) -> tuple[str, str]:
    """Return (reference, code) of what follows a keyword: "4821937 5831" has both."""
    whole = only_digits(rest)
    if is_valid(whole):
        return whole, ""
    words = rest.split()
    if len(words) > 1:
        code = only_digits(words[-1])
        reference = only_digits(" ".join(words[:-1]))
        if len(code) == CODE_DIGITS and is_valid(reference):
            return reference, code
    return whole, ""


def split_pair(rest: str) -> Command:
    """Return SAME's command from what follows it: "4821937 7654321", then maybe a code."""
    words = [only_digits(word) for word in rest.split()]
    words = [word for word in words if word]
    code = words.pop() if len(words) == 3 and len(words[-1]) == CODE_DIGITS else ""
    if len(words) != 2:
        return Command("same", "".join(words))  # not two references: refused as unknown
    return Command("same", words[0], code, other=words[1])


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
                if action == "same":
                    return split_pair(rest)
                reference, code = split_code(rest)
                return Command(action, reference, code)
    return None


def senders(session: Session, phone: str) -> list[FocalPoint]:
    """Return the active focal point rows (one per role) of a phone number, in any written form."""
    # Rows hold E.164 numbers (directory.imports): " 23670000001" is +23670000001.
    number = e164(phone)
    if number is None:
        return []
    return list(session.scalars(
        select(FocalPoint).where(FocalPoint.phone == number, FocalPoint.active.is_(True))
    ))


def may_act(session: Session, case: Case, points: Iterable[FocalPoint]) -> FocalPoint | None:
    """Return the sender's row that may act on the case: a recipient, or the area's coordinator."""
    points = list(points)
    # A warning about unconfirmed commands lets nobody act on the case.
    routed = set(session.scalars(
        select(OutboxMessage.focal_point_id).where(
            OutboxMessage.case_id == case.id,
            OutboxMessage.purpose != OutboxPurpose.COMMAND_ALERT,
        )
    ))
    for fp in points:
        if fp.id not in routed:
            continue
        if case.kind == CaseKind.COMPLAINT:
            if fp.role in (Role.CONDUCT, Role.ASSISTANCE):
                return fp
        elif not case.needs_triage or fp.role == Role.TRIAGE:
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


def allowed(case: Case, actor: FocalPoint, action: str) -> bool:
    """Tell whether a focal point who may act on the case may give this command."""
    if action == "conduct":
        return case.needs_triage and actor.role == Role.TRIAGE and case.closed_at is None
    if case.kind == CaseKind.COMPLAINT and action == "done":
        return actor.role == Role.CONDUCT  # only conduct closes a complaint
    return True


# One-time codes ------------------------------------------------------------------------------


def code_key(actor: FocalPoint, case: Case, action: str) -> str:
    """Return the Redis key of a pending code: ids and the command, never a number."""
    return f"{CODE_PREFIX}:{actor.id}:{case.id}:{action}"


def _digest(app: Flask, key: str, code: str) -> str:
    secret = str(app.secret_key or "").encode()
    return hmac.new(secret, f"{key}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(app: Flask, actor: FocalPoint, case: Case, action: str) -> str:
    """Draw a code for a command and keep its digest for 30 minutes (a new one replaces it)."""
    code = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
    key = code_key(actor, case, action)
    get_redis(app).set(key, _digest(app, key, code), ex=CODE_SECONDS)
    return code


def use_code(app: Flask, actor: FocalPoint, case: Case, action: str, code: str) -> bool:
    """Tell whether the code is the pending one of this command; a right code is used up."""
    key = code_key(actor, case, action)
    redis = get_redis(app)
    stored = redis.get(key)
    if stored is None:
        return False
    expected = stored.decode() if isinstance(stored, bytes) else str(stored)
    if not hmac.compare_digest(expected, _digest(app, key, code)):
        return False
    # One use: only the caller that deletes the key acts (two copies of one SMS act once).
    return bool(redis.delete(key))


# Refusals ------------------------------------------------------------------------------------


def _warned_roles(case: Case) -> list[Role]:
    """Return who hears of unconfirmed commands: a restricted case stays in its own role."""
    if case.kind == CaseKind.COMPLAINT:
        return [Role.CONDUCT]
    if case.needs_triage:
        return [Role.TRIAGE]
    return [Role.COORDINATOR]


def _warn(session: Session, case: Case) -> list[int]:
    """Queue, once per case, the SMS telling its area's lead of unconfirmed commands."""
    warned = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.case_id == case.id, OutboxMessage.purpose == OutboxPurpose.COMMAND_ALERT,
    ).limit(1))
    if warned is not None:
        return []
    for role in _warned_roles(case):
        for points in levels_covering(session, case, role).values():
            if points:
                chosen = [fp for fp in points if fp.level == Level.PRIMARY] or points
                rows = [OutboxMessage(case_id=case.id, focal_point_id=fp.id,
                                      purpose=OutboxPurpose.COMMAND_ALERT, urgent=True)
                        for fp in chosen]
                session.add_all(rows)
                session.flush()
                log.warning("case %s: unconfirmed commands, %d lead(s) told", case.id,
                            len(rows))
                return [row.id for row in rows]
    log.warning("case %s: unconfirmed commands, nobody to tell", case.id)
    return []


def refuse(session: Session, case: Case | None, action: str,
           detail: dict[str, object]) -> list[int]:
    """Record an unauthorised try on a case; past three, queue the lead's one warning."""
    log.warning("focal point command refused (%s)", action)
    if case is None:
        return []
    session.add(CaseEvent(case_id=case.id, kind=CaseEventKind.UNAUTHORISED_COMMAND,
                          detail={"command": action, **detail}))
    session.flush()
    tries = session.scalar(select(func.count(CaseEvent.id)).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == CaseEventKind.UNAUTHORISED_COMMAND,
    )) or 0
    return _warn(session, case) if tries > ALERT_AFTER else []


# Answers -------------------------------------------------------------------------------------


def _act(app: Flask, session: Session, case: Case, actor: FocalPoint, action: str,
         lang: str) -> Answer:
    """Carry out a confirmed command."""
    catalogs = get_catalogs(app)
    reference = case.reference
    by = f"focal_point:{actor.id}"
    if action == "conduct":
        # The case becomes a complaint, routed again to `conduct` only; triage sees it no more.
        case.kind = CaseKind.COMPLAINT
        case.needs_triage = False
        case.status = CaseStatus.NEW
        case.acknowledged_at = None
        case.escalation_stage = 0
        case.events.append(CaseEvent(kind=CaseEventKind.ROUTED, detail={
            "by": by, "moved": "triage to conduct"}))
        return Answer(catalogs.gettext(lang, MOVED_REPLY, reference=reference), lang,
                      route=((case.id, reference, case.is_urgent),))
    # OK and DONE are the desk's Acknowledge and Close: one code path (actions.py).
    who = actions.focal_point_actor(actor)
    try:
        if action == "done":
            outbox_ids: tuple[int, ...] = ()
            if case.closed_at is None:
                # DONE gives no reason: closed without an outcome (actions.py says why).
                outbox_ids = actions.close(app, session, case, who, outcome=None).outbox_ids
            else:
                erase_contact(session, case.id)  # closed already: the same answer
            return Answer(catalogs.gettext(lang, DONE_REPLY, reference=reference), lang,
                          outbox_ids)
        result = actions.acknowledge(app, session, case, who)
    except actions.ActionRefused as refused:
        # may_act and allowed let through only what actions.py permits: never expected.
        log.warning("focal point command refused by the case's rules (%s)", refused.reason)
        return Answer(catalogs.gettext(lang, NEUTRAL_REPLY, reference=reference), lang)
    return Answer(catalogs.gettext(lang, ACK_REPLY, reference=reference), lang,
                  result.outbox_ids)


def _same(app: Flask, session: Session, points: list[FocalPoint], command: Command,
          lang: str) -> Answer:
    """SAME 4821937 7654321: two cases the sender received are one incident (links.py)."""
    catalogs = get_catalogs(app)
    typed = " ".join(ref for ref in (command.reference, command.other) if ref)
    neutral = catalogs.gettext(lang, NEUTRAL_REPLY, reference=typed)
    found = [session.scalar(select(Case).where(Case.reference == ref))
             for ref in (command.reference, command.other) if is_valid(ref)]
    cases = list({case.id: case for case in found if case is not None}.values())
    actor = may_confirm(session, cases[0], cases[1], points) if len(cases) == 2 else None
    tried: dict[str, object] = {"focal_point_ids": [fp.id for fp in points]}
    if actor is None:
        # The same answer whatever is wrong: nothing says which case exists or who received it.
        return Answer(neutral, lang, tuple(
            outbox_id for case in cases for outbox_id in refuse(session, case, "same", tried)))
    earlier, later = in_order(cases[0], cases[1])
    action = f"same:{earlier.id}"  # the code is bound to the pair
    if not command.code:
        code = issue_code(app, actor, later, action)
        word = first_word(catalogs, lang, COMMANDS["same"])
        return Answer(catalogs.gettext(lang, CONFIRM_REPLY, command=word, reference=typed,
                                       code=code), lang)
    if not use_code(app, actor, later, action, command.code):
        wrong = {**tried, "reason": "code not confirmed"}
        return Answer(neutral, lang, tuple(
            outbox_id for case in cases for outbox_id in refuse(session, case, "same", wrong)))
    confirm(session, earlier, later, actor)
    return Answer(catalogs.gettext(lang, SAME_REPLY, reference=later.reference,
                                   other=earlier.reference), lang)


def answer(app: Flask, session: Session, points: list[FocalPoint], text: str,
           command: Command | None = None) -> Answer:
    """Carry out a focal point's SMS command; the caller commits, then sends and routes."""
    lang = next((fp.language for fp in points if fp.language), None) or app.config[
        "DEFAULT_LANGUAGE"]
    catalogs = get_catalogs(app)
    command = command or parse(app, text)
    if command is None:
        words = {key: first_word(catalogs, lang, COMMANDS[key]) for key in ("ok", "info", "done")}
        return Answer(catalogs.gettext(lang, USAGE_REPLY, **words), lang)
    if command.action == "same":
        return _same(app, session, points, command, lang)
    reference = command.reference
    neutral = catalogs.gettext(lang, NEUTRAL_REPLY, reference=reference)
    case = session.scalar(select(Case).where(Case.reference == reference)) if is_valid(
        reference) else None
    actor = may_act(session, case, points) if case is not None else None
    tried = {"focal_point_ids": [fp.id for fp in points]}
    if case is None or actor is None or not allowed(case, actor, command.action):
        return Answer(neutral, lang, tuple(refuse(session, case, command.action, tried)))
    if command.action not in CONFIRMED_COMMANDS:
        # INFO changes nothing: no code.
        if command.code:
            return Answer(neutral, lang)
        fold = lang in get_engine(app).gsm_fold_languages
        # The reporter's own words only to a focal point the case was sent to.
        routed = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.focal_point_id == actor.id,
            OutboxMessage.purpose != OutboxPurpose.COMMAND_ALERT)) != 0
        return Answer(compose_info(app, case, actor, lang, fold, routed), lang)
    if not command.code:
        # The code goes to the registered number: a spoofer never reads it.
        code = issue_code(app, actor, case, command.action)
        word = first_word(catalogs, lang, COMMANDS[command.action])
        return Answer(catalogs.gettext(lang, CONFIRM_REPLY, command=word, reference=reference,
                                       code=code), lang)
    if not use_code(app, actor, case, command.action, command.code):
        wrong = {**tried, "reason": "code not confirmed"}
        return Answer(neutral, lang, tuple(refuse(session, case, command.action, wrong)))
    return _act(app, session, case, actor, command.action, lang)


def handle(
    app: Flask, session: Session, phone: str, text: str, points: list[FocalPoint]
) -> Answer | None:
    """Answer an SMS from a focal point's phone, or a focal point command from anyone else.

    points: the sender's focal point rows (`senders`), none for a reporter's phone. None: the
    SMS is a reporter's like any other.
    """
    command = parse(app, text)
    if not points and (command is None or not is_valid(command.reference)):
        return None
    lang = next((fp.language for fp in points if fp.language), None) or app.config[
        "DEFAULT_LANGUAGE"]
    if command is not None and not hit(LIMIT_NAME, phone, COMMAND_LIMIT, app):
        count_refusal(LIMIT_NAME, app)
        log.warning("focal point commands over the per-number limit")
        return Answer(get_catalogs(app).gettext(lang, SLOW_REPLY), lang)
    if points:
        return answer(app, session, points, text, command)
    assert command is not None
    case = session.scalar(select(Case).where(Case.reference == command.reference))
    outbox_ids = refuse(session, case, command.action, {"sender": "not a focal point"})
    return Answer(get_catalogs(app).gettext(lang, NEUTRAL_REPLY, reference=command.reference),
                  lang, tuple(outbox_ids))
