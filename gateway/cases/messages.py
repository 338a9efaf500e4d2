"""The words of every SMS a focal point receives, and of the answers to their commands.

One module, so that a translator or a reviewer finds every focal-point text in one place: the
alert (one segment when it can), complaints, help requests, victim assistance, escalations,
flood summaries, the replies to OK / INFO / DONE / CONDUCT and their confirmation codes.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.orm import object_session
from sqlalchemy.orm.exc import DetachedInstanceError

from flows import Catalogs
from flows.gsm import fold_to_gsm7, sms_segments
from flows.i18n import N_
from gateway.cases.contact import contact_for
from gateway.cases.links import same_as
from gateway.conversation import first_word, get_catalogs
from gateway.storage.crypto import decrypt
from gateway.storage.models import Case, CaseKind, FocalPoint, OutboxPurpose, Role

log = logging.getLogger(__name__)

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
    # TRANSLATORS: a category in a focal point's SMS: a school or a hospital was attacked or
    # occupied, the caller did not know which (keep it short, as the categories above).
    "attack_on_schools_or_hospitals": N_("attack on school/hospital"),
    # TRANSLATORS: a category in a focal point's SMS: a school or hospital occupied or used by
    # armed forces or groups (Primero's "military use"; keep it short).
    "military_use": N_("military use of school/hospital"),
    # TRANSLATORS: a category in a focal point's SMS: an early warning, it has not happened yet
    # (a group says it will take children, recruiters seen); keep it short.
    "threat": N_("threat (early warning)"),
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


def _render(catalogs: Catalogs, lang: str, urgent: bool | None, fields: dict[str, str]) -> str:
    if urgent is True:
        # TRANSLATORS: the SMS a focal point receives (also the next two): keep it within 160
        # characters with a long place name, in GSM letters (é, è, à are; ê, ô, ç are not).
        return catalogs.gettext(
            lang,
            "URGENT child alert %(reference)s: %(category)s, %(place)s. "
            "Children: %(children)s, %(sex)s. Child in danger now.",
            **fields,
        )
    if urgent is False:
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


# TRANSLATORS: the SMS a focal point receives about an alert (also the next two): keep it
# within 160 characters with a long place name, in GSM letters (é, è, à are; ê, ô, ç are not).
# %(when)s: e.g. "last 3 days"; %(girls)s and %(boys)s: how many ("0", "1", "2-3", "4-9",
# "10+", "?" not known); %(age)s: the youngest child's, e.g. "under 15"; %(who)s: who did it,
# e.g. "armed group".
ALERT_URGENT_SMS = N_(
    "URGENT child alert %(reference)s: %(category)s, %(place)s, %(when)s. "
    "Girls %(girls)s, boys %(boys)s, %(age)s. By %(who)s. Child in danger now."
)
ALERT_NOT_URGENT_SMS = N_(
    "Child alert %(reference)s: %(category)s, %(place)s, %(when)s. "
    "Girls %(girls)s, boys %(boys)s, %(age)s. By %(who)s. Not in danger right now."
)
ALERT_SMS = N_(
    "Child alert %(reference)s: %(category)s, %(place)s, %(when)s. "
    "Girls %(girls)s, boys %(boys)s, %(age)s. By %(who)s. Danger now: not known."
)
# TRANSLATORS: the answer to a focal point's INFO about an alert: the alert's SMS (%(text)s),
# then what the reporter wrote (%(words)s), in their own words and language.
INFO_WORDS = N_('%(text)s Reporter wrote: "%(words)s"')
ALERT_WHEN = {
    # TRANSLATORS: when it happened, in a focal point's SMS about an alert (see "today").
    "today": N_("today"),
    "last_3_days": N_("last 3 days"),
    "last_month": N_("last 30 days"),
    "earlier": N_("over 30 days ago"),
    "unknown": N_("date not known"),
}
PERPETRATORS = {
    # TRANSLATORS: who did it, in a focal point's SMS about an alert ("By armed group").
    "armed_group": N_("armed group"),
    "state_forces": N_("army/police"),
    "other": N_("someone else"),
    "unknown": N_("not known"),
}
ALERT_AGES = {"under_15": N_("under 15"), "15_17": "15-17", "unknown": N_("age not known")}


def _count(value: str | None) -> str:
    """Show a count of girls or boys as the caller chose it; "?" when not known."""
    return value if value and value != "unknown" else "?"


def _render_counted(catalogs: Catalogs, lang: str, case: Case, fields: dict[str, str]) -> str:
    """Write an alert that counts girls and boys (every alert made since they were asked)."""
    template = {True: ALERT_URGENT_SMS, False: ALERT_NOT_URGENT_SMS}.get(case.urgent, ALERT_SMS)
    return catalogs.gettext(
        lang, template, **fields,
        when=catalogs.gettext(lang, ALERT_WHEN.get((case.answers or {}).get("when", ""),
                                                   ALERT_WHEN["unknown"])),
        girls=_count(case.girls), boys=_count(case.boys),
        age=catalogs.gettext(lang, ALERT_AGES.get(case.age_group or "unknown",
                                                  ALERT_AGES["unknown"])),
        who=catalogs.gettext(lang, PERPETRATORS.get(case.perpetrator or "unknown",
                                                    PERPETRATORS["unknown"])),
    )


def place_names(case: Case, catalogs: Catalogs, lang: str) -> list[str]:
    """Return the ways to name the case's place, longest first."""
    location = case.location
    if location is None:
        # TRANSLATORS: in a focal point's SMS, when the caller did not say where.
        return [catalogs.gettext(lang, "place not known")]
    # Named as the SMS is written: in lang where the place has a name of its own, else `name`.
    place = location.name_in(lang)
    if location.parent is None:
        return [place]
    # TRANSLATORS: a place and the area it is in, e.g. "Bambari (Ouaka)".
    both = catalogs.gettext(lang, "%(place)s (%(area)s)", place=place,
                            area=location.parent.name_in(lang))
    return [both, place]



def compose_alert(
    catalogs: Catalogs, case: Case, lang: str, fold: bool = False, words: str = ""
) -> str:
    """Write a focal point's SMS about a case in lang, in one segment when it can.

    fold: the language allows replacing characters outside GSM-7 (locales/languages.toml).
    """
    if case.needs_triage:
        return _compose_triage(catalogs, case, lang, fold, words)
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
    for place in place_names(case, catalogs, lang):
        if case.girls is None and case.boys is None:  # made before girls and boys were counted
            text = _render(catalogs, lang, case.urgent, {**fields, "place": place})
        else:
            text = _render_counted(catalogs, lang, case, {
                "reference": fields["reference"], "category": fields["category"], "place": place,
            })
        text = with_same_as(catalogs, lang, case, text)  # a possible duplicate (links.py)
        text = with_relay(catalogs, lang, case, text)  # reported by a focal point (RELAY)
        if fold:
            text = fold_to_gsm7(text)  # ç, ô... are outside GSM-7: 160 a segment, not 70
        if sms_segments(text) == 1:
            break  # otherwise try the shorter name of the place
    return text


def _compose_triage(catalogs: Catalogs, case: Case, lang: str, fold: bool, words: str) -> str:
    """An SMS no flow understood: the focal point reads the sender's own words to decide."""
    words = " ".join(words.split())
    place = place_names(case, catalogs, lang)[-1]
    # TRANSLATORS: a focal point's SMS about a message sent by SMS that no menu understood: a
    # person must read it. %(words)s is what the sender wrote.
    text = catalogs.gettext(
        lang, 'SMS to read %(reference)s, %(place)s: "%(words)s"',
        reference=case.reference, place=place, words=words,
    )
    return fold_to_gsm7(text) if fold else text


COMMANDS = {
    # TRANSLATORS: SMS keywords of focal points, comma-separated words as for ALERT. A focal
    # point sends "OK 4821937" to say they take the case.
    "ok": N_("OK"),
    # TRANSLATORS: focal point SMS keyword (see OK) to receive a case's details again.
    "info": N_("INFO"),
    # TRANSLATORS: focal point SMS keyword (see OK) to close a case.
    "done": N_("DONE"),
    # TRANSLATORS: focal point SMS keyword (see OK): a triage focal point sends "CONDUCT 4821937"
    # to move a message about personnel to the conduct focal points.
    "conduct": N_("CONDUCT"),
    # TRANSLATORS: focal point SMS keyword (see OK): "SAME 4821937 7654321" says two cases they
    # received are reports of one incident.
    "same": N_("SAME"),
}
# The commands that change a case: each is confirmed by a one-time code sent to the sender.
CONFIRMED_COMMANDS = ("ok", "done", "conduct", "same")

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
# TRANSLATORS: the answer to a focal point's command that changes a case: it acts only once
# confirmed with the code. %(command)s is the keyword they sent, %(code)s four digits.
CONFIRM_REPLY = N_("Reply %(command)s %(reference)s %(code)s to confirm.")
# TRANSLATORS: the answer to a triage focal point's CONDUCT: the case now goes to the conduct
# focal points only.
MOVED_REPLY = N_("Case %(reference)s: sent to conduct.")
# TRANSLATORS: the answer to a focal point's SAME: the later case is marked a duplicate of the
# earlier one (%(other)s); both stay open and are still followed up.
SAME_REPLY = N_("Case %(reference)s: same incident as %(other)s.")
# TRANSLATORS: added at the end of a focal point's SMS: an earlier report (%(reference)s) of the
# same category, same place, within 48 hours may be the same incident. Keep it short.
MAYBE_SAME_SMS = N_("%(text)s Maybe same as %(reference)s.")
# TRANSLATORS: the same, once a focal point confirmed it is the same incident (SAME).
SAME_AS_SMS = N_("%(text)s Same as %(reference)s.")


# TRANSLATORS: added at the end of a focal point's SMS when another focal point (%(name)s, as
# registered, e.g. "Ouaka CP") reported the case for someone who told them (RELAY): whom to ask
# to verify it. Keep it short.
RELAYED_SMS = N_("%(text)s Relayed by %(name)s.")


def relayer_name(case: Case) -> str | None:
    """Return the name of the focal point who relayed the case; None when it was not relayed."""
    if case.relayed_by_id is None:
        return None
    try:
        relayed_by = case.relayed_by
    except DetachedInstanceError:  # written without its session: the marker, without a name
        relayed_by = None
    return relayed_by.name if relayed_by is not None else "?"


def with_relay(catalogs: Catalogs, lang: str, case: Case, text: str) -> str:
    """Add "Relayed by <name>." to a case's SMS when a focal point reported it (RELAY)."""
    name = relayer_name(case)
    if name is None:
        return text
    return catalogs.gettext(lang, RELAYED_SMS, text=text, name=name)


def with_same_as(catalogs: Catalogs, lang: str, case: Case, text: str) -> str:
    """Add "Maybe same as 4821937" to a case's SMS when it is linked to an earlier case.

    Never in the way of the SMS: without a session, or if the look-up fails, the text as is.
    """
    session = object_session(case)
    if session is None:
        return text
    try:
        with session.begin_nested():  # a failed look-up leaves the sender's transaction whole
            link = same_as(session, case)
    except Exception:  # a boundary: a duplicate never delays nor stops an alert
        log.exception("case %s: its possible duplicate not looked up", case.id)
        return text
    if link is None:
        return text
    words = SAME_AS_SMS if link.confirmed else MAYBE_SAME_SMS
    return catalogs.gettext(lang, words, text=text, reference=link.reference)
# TRANSLATORS: the weekly SMS to a coordinator (gateway/trends/digest.py): counts of the alerts
# and help requests of their area from %(start)s to %(end)s (dates such as 2026-01-19);
# %(waiting)s: open and not acknowledged, now. Counts only. Keep it within 160 characters, in
# GSM letters (é, è, à are; ê, ô, ç are not).
DIGEST_SMS = N_(
    "Week %(start)s to %(end)s in your area: %(new)s new cases, %(acknowledged)s "
    "acknowledged, %(escalated)s escalated; %(waiting)s waiting now."
)
# TRANSLATORS: the answer to a phone that sent too many focal point commands this hour.
SLOW_REPLY = N_("Too many commands. Try again later.")
# TRANSLATORS: to a coordinator (complaints: the conduct lead), once, when commands nobody
# confirmed were sent about a case (maybe from a spoofed number). Neutral: no detail.
COMMAND_ALERT_SMS = N_("Several unconfirmed commands on case %(reference)s.")

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


def _label(catalogs: Catalogs, lang: str, table: dict[str, str], code: str | None) -> str:
    return catalogs.gettext(lang, table.get(code or "unknown", table["unknown"]))


# TRANSLATORS: sent at most once an hour when one sender makes many reports (a flood, or a phone
# in the wrong hands): the others are saved and flagged, not sent one by one. %(text)s is the
# latest report's SMS.
FLOOD_SMS = N_("Many reports from one sender this hour, the others kept unsent. Latest: %(text)s")


# TRANSLATORS: to a victim-assistance or services focal point only: the reporter of a case agreed
# to be called by a support service (a woman where one can). %(number)s is their phone number,
# %(time)s when it is safe ("in the evening"). Asks to keep it private.
CONTACT_SMS = N_(
    "Case %(reference)s: the person agrees to a call from a support service, %(time)s, on "
    "%(number)s. Keep this number private and delete this SMS after the call."
)
# TRANSLATORS: the same SMS when the number was erased before it could be sent.
CONTACT_ERASED_SMS = N_("Case %(reference)s: the number to call is no longer kept.")
SAFE_TIMES = {
    # TRANSLATORS: when a reporter said a call is safe, in a focal point's SMS.
    "morning": N_("in the morning"),
    "afternoon": N_("in the afternoon"),
    "evening": N_("in the evening"),
}


def compose_contact(app: Flask, case: Case, lang: str, fold: bool) -> str:
    """Write the SMS giving a focal point the number a reporter agreed to be called on."""
    catalogs = get_catalogs(app)
    session = object_session(case)
    kept = contact_for(app, session, case) if session is not None else None
    if kept is None:
        text = catalogs.gettext(lang, CONTACT_ERASED_SMS, reference=case.reference)
    else:
        number, safe_time = kept
        time = catalogs.gettext(lang, SAFE_TIMES.get(safe_time, SAFE_TIMES["evening"]))
        text = catalogs.gettext(lang, CONTACT_SMS, reference=case.reference, time=time,
                                number=number)
    return fold_to_gsm7(text) if fold else text


def compose_for(
    app: Flask, case: Case, focal_point: FocalPoint, purpose: str, lang: str, fold: bool
) -> str:
    """Write the SMS a focal point receives about a case (an escalation says so first).

    `purpose` is an OutboxPurpose, or "info" for a focal point's INFO command.
    """
    if purpose == OutboxPurpose.CONTACT:
        return compose_contact(app, case, lang, fold)
    catalogs = get_catalogs(app)
    if purpose == OutboxPurpose.COMMAND_ALERT:
        text = catalogs.gettext(lang, COMMAND_ALERT_SMS, reference=case.reference)
        return fold_to_gsm7(text) if fold else text
    # A triage case carries the sender's own words, kept encrypted: the focal point reads them.
    # So does a case to triage moved to conduct (CONDUCT): its conduct focal points read them.
    moved = (case.kind == CaseKind.COMPLAINT and focal_point.role == Role.CONDUCT
             and "what" not in (case.answers or {}))
    words = decrypt(case.details, app) if (case.needs_triage or moved) and case.details else ""
    if case.kind == CaseKind.ALERT and purpose == OutboxPurpose.CASE_ALERT:
        return compose_alert(catalogs, case, lang, fold=fold, words=words)
    if case.kind == CaseKind.ALERT:
        text = compose_alert(catalogs, case, lang, fold=False, words=words)
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
        elif moved and words:
            text = _compose_triage(catalogs, case, lang, False, words)
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
            if focal_point.role == Role.CONDUCT:  # a complaint's reference: conduct only
                text = with_same_as(catalogs, lang, case, text)
        text = with_relay(catalogs, lang, case, text)
        if case.is_urgent:
            text = catalogs.gettext(lang, URGENT_SMS, text=text)
    escalation = purpose in (OutboxPurpose.ESCALATION_1, OutboxPurpose.ESCALATION_2)
    if escalation:
        text = catalogs.gettext(lang, ESCALATED_SMS, text=text)
    elif purpose == OutboxPurpose.FLOOD_SUMMARY:
        text = catalogs.gettext(lang, FLOOD_SMS, text=text)
    if case.kind != CaseKind.ALERT or escalation:
        ok = first_word(catalogs, lang, COMMANDS["ok"])
        text = catalogs.gettext(lang, REPLY_HINT, text=text, ok=ok, reference=case.reference)
    return fold_to_gsm7(text) if fold else text


def compose_info(
    app: Flask, case: Case, focal_point: FocalPoint, lang: str, fold: bool, routed: bool
) -> str:
    """Write the answer to a focal point's INFO: the case's SMS again, and the reporter's words.

    routed: the case was sent to this focal point. Only then does an alert's free text (kept
    encrypted, SMS reports only) follow: a coordinator who was not sent the case reads the SMS
    without it.
    """
    text = compose_for(app, case, focal_point, "info", lang, fold=False)
    if routed and case.kind == CaseKind.ALERT and not case.needs_triage and case.details:
        words = " ".join(decrypt(case.details, app).split())
        text = get_catalogs(app).gettext(lang, INFO_WORDS, text=text, words=words)
    return fold_to_gsm7(text) if fold else text
