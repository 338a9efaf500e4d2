"""The words of every SMS a focal point receives, and of the answers to their commands.

One module, so that a translator or a reviewer finds every focal-point text in one place: the
alert (one segment when it can), complaints, help requests, victim assistance, escalations,
flood summaries, the replies to OK / INFO / DONE / CONDUCT and their confirmation codes.
"""

from __future__ import annotations

from flask import Flask

from flows import Catalogs
from flows.gsm import fold_to_gsm7, sms_segments
from flows.i18n import N_
from gateway.conversation import first_word, get_catalogs
from gateway.storage.crypto import decrypt
from gateway.storage.models import Case, CaseKind, FocalPoint, OutboxPurpose, Role

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
        text = _render(catalogs, lang, case.urgent, {**fields, "place": place})
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
}
# The commands that change a case: each is confirmed by a one-time code sent to the sender.
CONFIRMED_COMMANDS = ("ok", "done", "conduct")

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


def compose_for(
    app: Flask, case: Case, focal_point: FocalPoint, purpose: str, lang: str, fold: bool
) -> str:
    """Write the SMS a focal point receives about a case (an escalation says so first).

    `purpose` is an OutboxPurpose, or "info" for a focal point's INFO command.
    """
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
