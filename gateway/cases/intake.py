"""Turning a finished flow into a case, committed before the caller hears the reference."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows import Submission
from flows.i18n import N_
from gateway.cases.references import new_reference
from gateway.storage.models import (
    CATEGORIES,
    AgeGroup,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    Channel,
    Location,
    Perpetrator,
    Reporter,
    aware,
    utcnow,
)

log = logging.getLogger(__name__)

# TRANSLATORS: added to the last screen or SMS of a report of sexual violence within 72 hours.
# Neutral words: whoever reads the phone must not learn what was reported.
HEALTH_HINT = N_("If someone was hurt, go to the nearest health centre today.")
# TRANSLATORS: the last USSD screen of such a report (at most 76 characters in Arabic script).
# TRANSLATORS: %(service)s is empty, or a line naming the nearest service that can help (its
# own words are translated apart): keep it at the very end, right after the last full stop.
HEALTH_END = N_(
    "Thank you. Your report number is %(reference)s. "
    "If someone was hurt, go to the nearest health centre today.%(service)s"
)

ANSWER_VALUES = {
    "children": {"1", "2-3", "4+", "unknown"},
    "sex": {"girls", "boys", "both", "unknown"},
}
# How many girls, and boys, an alert names: the least and the most each answer means.
COUNTS: dict[str, tuple[int, int | None]] = {
    "0": (0, 0), "1": (1, 1), "2-3": (2, 3), "4-9": (4, 9), "10+": (10, None),
}
# "When did it happen?" as an incident date range: days before today of its first and last
# day (None: open or not known). Earlier: before the last month, start not known.
INCIDENT_DAYS: dict[str, tuple[int | None, int | None]] = {
    "today": (0, 0),
    "last_3_days": (3, 0),
    "last_month": (30, 0),
    "earlier": (None, 30),
    "unknown": (None, None),
}
# An early warning is acted on before it happens: urgent whatever "in danger right now?" got.
URGENT_CATEGORIES = frozenset({"threat"})
# The flows' answer to "is a child in danger right now?": yes, no, or not known (None).
URGENCY = {"yes": True, "no": False}
REFERENCE_ATTEMPTS = 8

# Codes each flow may save beyond the alert's, kept in Case.answers (menus only, no free text).
FLOW_ANSWERS = {
    "alert": {"when": set(INCIDENT_DAYS)},
    "complaint": {
        "what": {"sexual_exploitation_abuse", "child_used", "misconduct"},
        "who": {"un", "police", "aid_worker", "unknown"},
        "when": {"today", "last_3_days", "earlier", "unknown"},
        "child": {"yes", "no", "unknown"},
        "help_now": {"health", "safety", "psychosocial", "no", "unknown"},
    },
    "help": {
        "age": {"under_15", "15_17", "18_plus", "unknown"},
        "own_children": {"yes", "no", "unknown"},
        "need": {"safety", "health", "food", "family", "school_work"},
    },
}
FLOW_KINDS = {"complaint": CaseKind.COMPLAINT, "help": CaseKind.HELP_REQUEST}
# A complaint's category is the MRM code focal points' coverage is written in.
COMPLAINT_CATEGORIES = {
    "sexual_exploitation_abuse": "sexual_violence",
    "child_used": "recruitment",
    "misconduct": "other",
}
# Within 72 hours of sexual violence, post-exposure prophylaxis still works.
PEP_WHEN = frozenset({"today", "last_3_days"})


def source_key(channel: Channel, session_id: str) -> str:
    """Digest a channel's session id, so a session can make at most one case."""
    return hashlib.sha256(f"{channel.value}:{session_id}".encode()).hexdigest()


def _answer(submission: Submission, key: str) -> str:
    value = submission.answers.get(key) or "unknown"
    return value if value in ANSWER_VALUES[key] else "unknown"


def incident_dates(when: str | None, today: date) -> tuple[date | None, date | None]:
    """Return the first and last possible day of an incident said to be `when`."""
    first, last = INCIDENT_DAYS.get(when or "unknown", (None, None))
    return (
        None if first is None else today - timedelta(days=first),
        None if last is None else today - timedelta(days=last),
    )


def children_and_sex(girls: str, boys: str) -> tuple[str, str]:
    """Derive the older `children` and `sex` answers from counts of girls and boys.

    Routing reads `sex` (girls go to a woman) and old cases only have these: a sex is named
    when children of it are said to be there ("girls" when girls are and boys are none or not
    known); `children` counts the least number said, "unknown" when a count is not known.
    """
    counts = [COUNTS.get(girls), COUNTS.get(boys)]
    least = sum(count[0] for count in counts if count is not None)
    if None in counts:
        children = "4+" if least >= 4 else "unknown"
    elif least >= 4:
        children = "4+"
    elif least >= 2:
        children = "2-3"
    else:
        children = "1" if counts == [(1, 1), (0, 0)] or counts == [(0, 0), (1, 1)] else "unknown"
    some_girls = girls in COUNTS and girls != "0"
    some_boys = boys in COUNTS and boys != "0"
    if some_girls and some_boys:
        sex = "both"
    elif some_girls or some_boys:
        sex = "girls" if some_girls else "boys"
    else:
        sex = "unknown"
    return children, sex


@dataclass(frozen=True)
class AlertDetails:
    """What an alert's caller said beyond category and place, as stored on the case."""

    incident_from: date | None
    incident_to: date | None
    perpetrator: Perpetrator
    age_group: AgeGroup
    girls: str | None
    boys: str | None
    children: str
    sex: str

    def apply(self, case: Case) -> None:
        """Write these answers on a case."""
        case.incident_from, case.incident_to = self.incident_from, self.incident_to
        case.perpetrator, case.age_group = self.perpetrator, self.age_group
        case.girls, case.boys = self.girls, self.boys
        case.children, case.sex = self.children, self.sex


def _code(answers: Mapping[str, str | None], key: str, values: Collection[str]) -> str:
    value = answers.get(key) or "unknown"
    return value if value in values else "unknown"


def alert_details(submission: Submission, today: date) -> AlertDetails:
    """Return an alert's answers beyond category and place; anything not offered is unknown.

    A submission of the alert as it was before girls and boys were counted (spooled, resumed
    across an upgrade) keeps its `children` and `sex`, its counts left NULL.
    """
    answers = submission.answers
    incident_from, incident_to = incident_dates(answers.get("when"), today)
    counted = "girls" in answers or "boys" in answers or not (
        "children" in answers or "sex" in answers)
    if counted:
        girls, boys = _code(answers, "girls", COUNTS), _code(answers, "boys", COUNTS)
        children, sex = children_and_sex(girls, boys)
    else:
        girls = boys = None
        children, sex = _answer(submission, "children"), _answer(submission, "sex")
    return AlertDetails(
        incident_from=incident_from,
        incident_to=incident_to,
        perpetrator=Perpetrator(_code(answers, "perpetrator", {p.value for p in Perpetrator})),
        age_group=AgeGroup(_code(answers, "age", {a.value for a in AgeGroup})),
        girls=girls,
        boys=boys,
        children=children,
        sex=sex,
    )


def flow_answers(submission: Submission) -> dict[str, str]:
    """Return the known codes a flow saved beyond the alert's; anything else is dropped."""
    allowed = FLOW_ANSWERS.get(submission.flow, {})
    return {
        key: value
        for key, values in allowed.items()
        if (value := submission.answers.get(key) or "unknown") in values
    }


def recent_sexual_violence(category: str, answers: Mapping[str, str] | None) -> bool:
    """Tell whether sexual violence is said to have happened within the last 72 hours."""
    return category == "sexual_violence" and (answers or {}).get("when") in PEP_WHEN


def points_to_health(submission: Submission) -> dict[str, str]:
    """Return the last screen's extra values: "health": "yes" when it must point to health care
    (PEP window), and an empty "service" (the submit fills it where it can: channels/submit.py),
    so that a last screen naming `%(service)s` renders on every path, spooled ones included."""
    _kind, category, _urgent, answers = _classify(submission)
    health = {"health": "yes"} if recent_sexual_violence(category, answers) else {}
    return {"service": "", **health}


def _classify(submission: Submission) -> tuple[CaseKind, str, bool | None, dict[str, str]]:
    """Return the kind, category, urgency (None: not known) and extra answers of a submission."""
    kind = FLOW_KINDS.get(submission.flow, CaseKind.ALERT)
    answers = flow_answers(submission)
    if kind == CaseKind.COMPLAINT:
        category = COMPLAINT_CATEGORIES.get(answers.get("what", ""), "other")
        return kind, category, recent_sexual_violence(category, answers), answers
    if kind == CaseKind.HELP_REQUEST:
        # A child who left an armed group; "safety first" is urgent, nothing waits for checks.
        return kind, "recruitment", answers.get("need") == "safety", answers
    category = submission.answers.get("category") or "other"
    category = category if category in CATEGORIES else "other"
    if recent_sexual_violence(category, answers) or category in URGENT_CATEGORIES:
        return kind, category, True, answers
    return kind, category, URGENCY.get(submission.answers.get("urgent") or ""), answers


def _fill_unknown(case: Case, details: AlertDetails) -> list[str]:
    """Fill in the alert answers a routed partial case did not know; return the names added."""
    added: list[str] = []
    if case.incident_from is None and case.incident_to is None and (
            details.incident_from is not None or details.incident_to is not None):
        case.incident_from, case.incident_to = details.incident_from, details.incident_to
        added.append("incident_dates")
    if case.perpetrator in (None, Perpetrator.UNKNOWN) and details.perpetrator != "unknown":
        case.perpetrator = details.perpetrator
        added.append("perpetrator")
    if case.age_group in (None, AgeGroup.UNKNOWN) and details.age_group != "unknown":
        case.age_group = details.age_group
        added.append("age_group")
    for name in ("girls", "boys"):
        value = getattr(details, name)
        if getattr(case, name) in (None, "unknown") and value not in (None, "unknown"):
            setattr(case, name, value)
            added.append(name)
    return added


def _reporter(session: Session, pseudonym: str, language: str) -> Reporter:
    reporter = session.scalar(select(Reporter).where(Reporter.pseudonym == pseudonym))
    if reporter is None:
        reporter = Reporter(pseudonym=pseudonym, language=language)
        session.add(reporter)
        session.flush()
    reporter.language = language
    reporter.last_seen_at = utcnow()
    return reporter


def _existing(session: Session, key: str) -> Case | None:
    return session.scalar(select(Case).where(Case.source_key == key))


def complete_partial(session: Session, case: Case, submission: Submission) -> None:
    """Complete a partial case with the answers of its resumed session, to be routed again.

    A partial case already routed keeps the answers its focal points were sent: the resumed
    session only fills in what was not known, and an event names what it added.
    """
    kind, category, urgent, answers = _classify(submission)
    pcode = submission.answers.get("location")
    location_id = (
        session.scalar(select(Location.id).where(Location.pcode == pcode)) if pcode else None
    )
    children, sex = _answer(submission, "children"), _answer(submission, "sex")
    # Dated from the day the case was first saved: "today" means the day the caller called.
    details = (alert_details(submission, aware(case.created_at).date())
               if kind == CaseKind.ALERT else None)
    if details is not None:
        children, sex = details.children, details.sex
    routed = case.routed_at is not None or case.status != CaseStatus.NEW
    if not routed:
        case.kind, case.category, case.answers = kind, category, answers or None
        case.location_id, case.children, case.sex, case.urgent = location_id, children, sex, urgent
        if details is not None:
            details.apply(case)
        case.language = submission.language
        detail: dict[str, list[str]] = {}
    else:
        added: list[str] = []
        if case.location_id is None and location_id is not None:
            case.location_id = location_id
            added.append("location")
        if details is not None:
            added += _fill_unknown(case, details)
        if case.children == "unknown" and children != "unknown":
            case.children = children
            added.append("children")
        if case.sex == "unknown" and sex != "unknown":
            case.sex = sex
            added.append("sex")
        if case.urgent is None and urgent is not None:
            case.urgent = urgent
            added.append("urgent")
        known = dict(case.answers or {})
        for name, value in answers.items():
            if known.get(name, "unknown") == "unknown" and value != "unknown":
                known[name] = value
                added.append(name)
        case.answers = known or None
        detail = {"added": added}
    case.partial = False
    # Routed again, so that focal points the fuller answers add receive it (once each).
    case.status = CaseStatus.NEW
    case.events.append(CaseEvent(kind=CaseEventKind.COMPLETED, detail=detail))
    session.commit()


def create_case(
    session: Session,
    submission: Submission,
    *,
    pseudonym: str,
    channel: Channel,
    key: str,
    reference: str | None = None,
    partial: Mapping[str, str] | None = None,
    relayed_by: int | None = None,
) -> tuple[Case, bool]:
    """Commit the case a submission describes; return it and whether it is new (to route).

    A `reference` drawn beforehand is tried first, so a case spooled while the database was
    down keeps the reference its caller heard. With `partial` (how the session ended) the case
    is saved as partial; a complete submission of the same key later completes it.
    `relayed_by`: the focal point who reports for someone else; staff, not a reporter, so the
    case is linked to no reporter (pseudonym unused).
    """
    existing = _existing(session, key)
    if existing is not None:
        if existing.partial and partial is None:
            complete_partial(session, existing, submission)
            return existing, True
        return existing, False
    kind, category, urgent, answers = _classify(submission)
    pcode = submission.answers.get("location")
    details = alert_details(submission, utcnow().date()) if kind == CaseKind.ALERT else None
    for attempt in range(REFERENCE_ATTEMPTS):
        # References are random: on a collision draw again, one digit longer late on.
        length = 7 if attempt < REFERENCE_ATTEMPTS // 2 else 8
        try:
            location_id = (
                session.scalar(select(Location.id).where(Location.pcode == pcode))
                if pcode
                else None
            )
            # A relay (or one spooled while the database was down: no pseudonym) has no reporter.
            reporter = (None if relayed_by is not None or not pseudonym
                        else _reporter(session, pseudonym, submission.language))
            if reporter is not None and location_id is not None:
                reporter.last_location_id = location_id  # where their later SMS are triaged
            case = Case(
                reference=(
                    reference if reference and attempt == 0 else new_reference(length)
                ),
                source_key=key,
                kind=kind,
                channel=channel,
                category=category,
                location_id=location_id,
                children=_answer(submission, "children"),
                sex=_answer(submission, "sex"),
                urgent=urgent,
                answers=answers or None,
                language=submission.language,
                reporter_id=reporter.id if reporter is not None else None,
                relayed_by_id=relayed_by,
                partial=partial is not None,
            )
            if details is not None:
                details.apply(case)
            created: dict[str, object] = {"channel": channel.value}
            if relayed_by is not None:
                created["relayed_by"] = relayed_by
            case.events.append(CaseEvent(kind=CaseEventKind.CREATED, detail=created))
            if partial is not None:
                case.events.append(CaseEvent(kind=CaseEventKind.PARTIAL, detail=dict(partial)))
            session.add(case)
            session.commit()
            return case, True
        except IntegrityError:
            session.rollback()
            existing = _existing(session, key)
            if existing is not None:  # the same hop, answered twice at once
                return existing, False
            log.info("case reference collision, drawing again")
    raise RuntimeError("could not draw a free case reference")
