"""The one submit of every channel: a status lookup, or a report made a case, then routed.

USSD and SMS walk the same flows; when a flow finishes, both come here. A report becomes a case
committed before the caller reads its reference, with the reporter's words (SMS) encrypted and
the one follow-up SMS they may have asked for; its routing is queued after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flows import Submission
from flows.gsm import fits_ussd, fold_to_gsm7, is_gsm7
from flows.i18n import N_
from flows.render import ELLIPSIS, END
from gateway.cases.contact import SAFE_TIMES, keep_contact
from gateway.cases.follow_up import STATUS_TEXTS, lookup_status, request_callback
from gateway.cases.intake import create_case, points_to_health
from gateway.conversation import get_catalogs, get_engine
from gateway.directory.services import kinds_needed, nearest_service
from gateway.storage.crypto import encrypt
from gateway.storage.models import Case, Channel, Reporter, Service
from workers.enqueue import enqueue_route

log = logging.getLogger(__name__)

STATUS_FLOW = "status"


def status_text(app: Flask, session: Session, pseudonym: str, typed: str, lang: str) -> str:
    """Answer a reference typed by a reporter with its neutral state, in their language."""
    state, reference = lookup_status(app, session, pseudonym, typed)
    return get_catalogs(app).gettext(lang, STATUS_TEXTS[state], reference=reference)


def answer_status(app: Flask, session: Session, pseudonym: str,
                  submission: Submission) -> dict[str, str]:
    """Return the status flow's answer for the reference it asked for."""
    typed = submission.answers.get("reference") or ""
    return {"status": status_text(app, session, pseudonym, typed, submission.language)}


@dataclass(frozen=True)
class Filed:
    """A report committed as a case: what the caller reads, and what to route."""

    case_id: int
    reference: str
    urgent: bool
    created: bool  # new (or a partial case now completed): to be routed
    service: str = ""  # the nearest service's line on the last screen, fitted ("" for none)

    def answer(self, submission: Submission) -> dict[str, str]:
        """Return what the flow's last screen shows: reference, service, the health hint."""
        return {"reference": self.reference, **points_to_health(submission),
                "service": self.service}


# TRANSLATORS: added at the end of the last screen of a report: the nearest service that can
# help. %(name)s is the service's name as written by its organisation, %(phone)s its number,
# %(hours)s its opening hours ("Mon-Fri 8-16"). Keep it short: the screen holds 182 characters.
SERVICE_LINE = N_("Help near you: %(name)s %(phone)s, %(hours)s")
# TRANSLATORS: the same, for a service without opening hours, or when they do not fit.
SERVICE_LINE_SHORT = N_("Help near you: %(name)s %(phone)s")
# The service's line starts a line of its own under the last screen's words.
LINE_BREAK = "\n"
# A service's name is cut (with "..") to fit, never below this many characters.
MIN_NAME = 6


def _end_text(app: Flask, flow: str) -> str | None:
    """Return the source text of a flow's last screen (its end step that submits)."""
    definition = get_engine(app).flows.get(flow)
    if definition is None:
        return None
    return next((step.text for step in definition.steps.values()
                 if step.type == "end" and step.submit and step.text), None)


def _service_lines(app: Flask, lang: str, service: Service) -> Iterator[str]:
    """Yield the service's line in lang, shortest last: hours dropped, then the name cut."""
    catalogs = get_catalogs(app)
    name = " ".join(service.name.split())
    if service.hours.strip():
        yield LINE_BREAK + catalogs.gettext(lang, SERVICE_LINE, name=name, phone=service.phone,
                                            hours=" ".join(service.hours.split()))
    for end in range(len(name), MIN_NAME - 1, -1):
        cut = name if end == len(name) else name[:end].rstrip() + ELLIPSIS
        yield LINE_BREAK + catalogs.gettext(lang, SERVICE_LINE_SHORT, name=cut,
                                            phone=service.phone)


def service_line(app: Flask, submission: Submission, service: Service | None,
                 reference: str) -> str:
    """Return the service's line for the flow's last screen, cut to fit it, or "" if none fits.

    Measured on the whole screen as the engine renders it: the reference is never cut, the
    service part is shortened (hours first, then its name) or left out.
    """
    template = _end_text(app, submission.flow)
    if service is None or template is None or "%(service)s" not in template:
        return ""
    engine, lang = get_engine(app), submission.language
    params = {"reference": reference, **points_to_health(submission)}
    bare = engine.translate(lang, template, **params)
    for line in _service_lines(app, lang, service):
        if is_gsm7(bare) and not is_gsm7(line):
            line = fold_to_gsm7(line)  # a name outside GSM-7 would cut the screen to 80
        if fits_ussd(END + engine.translate(lang, template, **{**params, "service": line})):
            return line
    return ""


def nearest_service_line(app: Flask, session: Session, submission: Submission,
                         reference: str) -> str:
    """Return the last screen's line naming the nearest service the report needs, or ""."""
    kinds = kinds_needed(submission.flow, submission.answers)
    if not kinds:
        return ""
    try:
        service = nearest_service(session, submission.answers.get("location"), kinds,
                                  submission.language)
    except SQLAlchemyError as exc:
        # The case is committed: the caller still reads their reference.
        session.rollback()
        log.warning("nearest service not found: %s", type(exc).__name__)
        return ""
    return service_line(app, submission, service, reference)


def file_report(
    app: Flask,
    session: Session,
    submission: Submission,
    *,
    pseudonym: str,
    channel: Channel,
    key: str,
    number: str = "",
    reference: str | None = None,
    triage: bool = False,
) -> Filed:
    """Commit the case a finished report makes (once per key); raise SQLAlchemyError if refused.

    number: the reporter's phone, kept (encrypted) only when they asked for a follow-up SMS.
    triage: a message no flow understood; a triage focal point reads it (nearest the reporter's
    last place).
    """
    case, created = create_case(session, submission, pseudonym=pseudonym, channel=channel,
                                key=key, reference=reference)
    case_id, case_reference, urgent = case.id, case.reference, case.is_urgent
    if created:
        _keep_extras(app, session, case, submission, pseudonym, number, triage)
    service = nearest_service_line(app, session, submission, case_reference)
    return Filed(case_id, case_reference, urgent, created, service)


def _keep_extras(app: Flask, session: Session, case: Case, submission: Submission,
                 pseudonym: str, number: str, triage: bool) -> None:
    """Add the reporter's words, the follow-up SMS asked for and the triage flag to a new case."""
    details = submission.answers.get("details")
    if details:
        case.details = encrypt(details, app)
    if triage:
        case.needs_triage = True
        reporter = session.get(Reporter, case.reporter_id)
        if case.location_id is None and reporter is not None:
            case.location_id = reporter.last_location_id
    try:
        if submission.answers.get("callback") == "yes" and number:
            # The one SMS they asked for when the case is followed up: number encrypted.
            request_callback(app, session, case, pseudonym=pseudonym, number=number,
                             language=submission.language)
        safe_time = submission.answers.get("contact") or ""
        if safe_time in SAFE_TIMES and number:
            # They agreed to a support service's call: number encrypted, for that role only.
            keep_contact(app, session, case, pseudonym=pseudonym, number=number,
                         safe_time=safe_time)
        session.commit()
    except SQLAlchemyError as exc:
        # The case is saved and will be routed; only what came with it is lost.
        session.rollback()
        log.error("case %s: details, callback or contact request not kept: %s", case.id,
                  type(exc).__name__)


def route(app: Flask, filed: Filed) -> None:
    """Queue the routing of a committed case; if Redis refuses, the sweep routes it."""
    if filed.created:
        enqueue_route(app, filed.case_id, filed.urgent)
