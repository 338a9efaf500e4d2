"""A focal point's side by SMS: what they read about a case, and OK / INFO / DONE replies.

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

from flows import Catalogs
from flows.engine import fold_words
from flows.gsm import fold_to_gsm7
from flows.i18n import N_
from gateway.conversation import get_catalogs, get_engine
from gateway.follow_up import mark_followed_up
from gateway.models import (
    Case,
    CaseEvent,
    CaseKind,
    FocalPoint,
    OutboxMessage,
    Role,
    utcnow,
)
from gateway.references import is_valid
from gateway.routing import coverers

log = logging.getLogger(__name__)

COMMANDS = {
    # TRANSLATORS: SMS keywords of focal points, comma-separated words as for ALERT. A focal
    # point sends "OK 4821937" to say they take the case.
    "ok": N_("OK"),
    # TRANSLATORS: focal point SMS keyword (see OK) to receive a case's details again.
    "info": N_("INFO"),
    # TRANSLATORS: focal point SMS keyword (see OK) to close a case.
    "done": N_("DONE"),
}

# TRANSLATORS: a conduct focal point's SMS about a complaint against personnel (keep it short).
COMPLAINT_SMS = N_(
    "Conduct complaint %(reference)s: %(what)s, by %(who)s, %(place)s, %(when)s. "
    "Child: %(child)s. Help now: %(help)s."
)
# TRANSLATORS: a victim-assistance focal point's SMS: someone harmed needs help now.
ASSISTANCE_SMS = N_(
    "Victim assistance %(reference)s: %(place)s. Help needed now: %(help)s. Child: %(child)s."
)
# TRANSLATORS: a services focal point's SMS: a child or youth who left an armed group asks help.
HELP_SMS = N_(
    "Help request %(reference)s (left armed group): %(place)s, %(age)s, %(sex)s, "
    "own children: %(children)s. Needs first: %(need)s."
)
# TRANSLATORS: before a focal point's SMS that must be read at once. %(text)s is that SMS.
URGENT_SMS = N_("URGENT: %(text)s")
# TRANSLATORS: before a case's SMS sent further because nobody acknowledged it in time.
ESCALATED_SMS = N_("Not acknowledged yet. %(text)s")
# TRANSLATORS: after a focal point's SMS: how to acknowledge. %(ok)s is the OK keyword.
REPLY_HINT = N_("%(text)s Reply %(ok)s %(reference)s")

ACK_REPLY = N_("Case %(reference)s: acknowledged. Thank you.")
DONE_REPLY = N_("Case %(reference)s: closed.")
# TRANSLATORS: the same answer whether the case does not exist or the sender may not act on it.
NEUTRAL_REPLY = N_("No action for %(reference)s.")
USAGE_REPLY = N_("Send %(ok)s, %(info)s or %(done)s and the case number.")

WHAT = {
    # TRANSLATORS: what a complaint is about, in a conduct focal point's SMS (short).
    "sexual_exploitation_abuse": N_("sexual exploitation/abuse"),
    "child_used": N_("child used by personnel"),
    "misconduct": N_("misconduct"),
}
WHO = {
    # TRANSLATORS: who a complaint is about, in a conduct focal point's SMS (short).
    "un": N_("UN staff/peacekeeper"),
    "police": N_("police"),
    "aid_worker": N_("aid worker"),
    "unknown": N_("person not known"),
}
WHEN = {
    # TRANSLATORS: when it happened, in a focal point's SMS.
    "today": N_("today"),
    "last_3_days": N_("last 3 days"),
    "earlier": N_("earlier"),
    "unknown": N_("date not known"),
}
YES_NO = {"yes": N_("yes"), "no": N_("no"), "unknown": N_("not known")}
HELP = {
    # TRANSLATORS: the help someone needs, in a focal point's SMS (short).
    "health": N_("health"),
    "safety": N_("safety"),
    "psychosocial": N_("psychosocial"),
    "no": N_("none"),
    "unknown": N_("not known"),
}
AGE = {"under_15": N_("under 15"), "15_17": "15-17", "18_plus": "18+",
       "unknown": N_("age not known")}
SEX = {"girls": N_("girl"), "boys": N_("boy"), "unknown": N_("sex not known")}
NEED = {**HELP, "food": N_("food"), "family": N_("family"), "school_work": N_("school/work")}


def _word(app: Flask, lang: str, msgid: str) -> str:
    return get_catalogs(app).gettext(lang, msgid).replace("|", ",").split(",")[0].strip()


def _label(catalogs: Catalogs, lang: str, table: dict[str, str], code: str | None) -> str:
    return catalogs.gettext(lang, table.get(code or "unknown", table["unknown"]))


FLOOD_SUMMARY = "flood_summary"
# TRANSLATORS: sent at most once an hour when one sender makes many reports (a flood, or a phone
# in the wrong hands): the others are saved and flagged, not sent one by one. %(text)s is the
# latest report's SMS.
FLOOD_SMS = N_("Many reports from one sender this hour, the others kept unsent. Latest: %(text)s")


def compose_for(
    app: Flask, case: Case, focal_point: FocalPoint, purpose: str, lang: str, fold: bool
) -> str:
    """Write the SMS a focal point receives about a case (an escalation says so first)."""
    from workers.sending import compose_alert, place_names

    catalogs = get_catalogs(app)
    if case.kind == CaseKind.ALERT:
        text = compose_alert(case, lang, catalogs, fold=False)
    else:
        answers = case.answers or {}
        fields = {"reference": case.reference, "place": place_names(case, catalogs, lang)[-1],
                  "child": _label(catalogs, lang, YES_NO, answers.get("child")),
                  "help": _label(catalogs, lang, HELP, answers.get("help_now"))}
        if case.kind == CaseKind.HELP_REQUEST:
            text = catalogs.gettext(
                lang, HELP_SMS, reference=case.reference, place=fields["place"],
                age=_label(catalogs, lang, AGE, answers.get("age")),
                sex=_label(catalogs, lang, SEX, case.sex),
                children=_label(catalogs, lang, YES_NO, answers.get("own_children")),
                need=_label(catalogs, lang, NEED, answers.get("need")),
            )
        elif focal_point.role == Role.ASSISTANCE:
            # Victim assistance learns what help, where, and whether a child: nothing of who.
            text = catalogs.gettext(lang, ASSISTANCE_SMS, **fields)
        else:
            text = catalogs.gettext(
                lang, COMPLAINT_SMS, **fields,
                what=_label(catalogs, lang, {**WHAT, "unknown": WHAT["misconduct"]},
                            answers.get("what")),
                who=_label(catalogs, lang, WHO, answers.get("who")),
                when=_label(catalogs, lang, WHEN, answers.get("when")),
            )
        if case.is_urgent:
            text = catalogs.gettext(lang, URGENT_SMS, text=text)
    if purpose.startswith("escalation"):
        text = catalogs.gettext(lang, ESCALATED_SMS, text=text)
    elif purpose == FLOOD_SUMMARY:
        text = catalogs.gettext(lang, FLOOD_SMS, text=text)
    if case.kind != CaseKind.ALERT or purpose.startswith("escalation"):
        text = catalogs.gettext(lang, REPLY_HINT, text=text, ok=_word(app, lang, COMMANDS["ok"]),
                                reference=case.reference)
    return fold_to_gsm7(text) if fold else text


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
    for lang in ["en", *app.config["LANGUAGES"]]:
        for action, msgid in COMMANDS.items():
            words = get_catalogs(app).gettext(lang, msgid).replace("|", ",").split(",")
            if folded in {fold_words(word) for word in words}:
                return Command(action, "".join(ch for ch in rest if ch.isdigit()))
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
    if case.kind == CaseKind.COMPLAINT:
        return None  # restricted: only conduct (and assistance) recipients
    ids = {fp.id for fp in points if fp.role == Role.COORDINATOR}
    if ids:
        for level in coverers(session, case, Role.COORDINATOR).values():
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
        words = {key: _word(app, lang, msgid) for key, msgid in COMMANDS.items()}
        return Answer(catalogs.gettext(lang, USAGE_REPLY, **words), lang)
    reference = command.reference
    case = session.scalar(select(Case).where(Case.reference == reference)) if is_valid(
        reference) else None
    actor = may_act(session, case, points) if case is not None else None
    if case is None or actor is None:
        if case is not None:
            session.add(CaseEvent(case_id=case.id, kind="unauthorised_command", detail={
                "command": command.action, "focal_point_ids": [fp.id for fp in points],
            }))
        log.warning("focal point command refused (%s)", command.action)
        return Answer(catalogs.gettext(lang, NEUTRAL_REPLY, reference=reference), lang)
    by = f"focal_point:{actor.id}"
    if command.action == "info":
        fold = lang in get_engine(app).gsm_fold_languages
        return Answer(compose_for(app, case, actor, "info", lang, fold), lang)
    result = mark_followed_up(session, case, by=by)
    if command.action == "done":
        if case.closed_at is None:
            case.closed_at = utcnow()
            case.events.append(CaseEvent(kind="closed", detail={"by": by}))
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
        session.add(CaseEvent(case_id=case.id, kind="unauthorised_command",
                              detail={"command": command.action, "sender": "not a focal point"}))
    log.warning("focal point command from an unknown sender refused (%s)", command.action)
    lang = app.config["DEFAULT_LANGUAGE"]
    return Answer(get_catalogs(app).gettext(lang, NEUTRAL_REPLY, reference=command.reference),
                  lang)
