"""What the case pages share: the blueprint, the words of codes, a visible case or 404."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, abort
from sqlalchemy.orm import Session

from flows.i18n import N_
from gateway.cases.status import status_of
from gateway.desk import scope
from gateway.desk.i18n import _
from gateway.storage.models import (
    Case,
    DeskRole,
    User,
    aware,
)

bp = Blueprint("desk_cases", __name__)

CASE_ROLES = tuple(role for role in DeskRole if role != DeskRole.ADMIN)
# Words of the desk (English source, translated at request time by the desk's catalog).
STATE_LABELS = {
    "open": N_("Open"), "unacknowledged": N_("Not acknowledged"),
    "acknowledged": N_("Acknowledged"), "escalated": N_("Escalated"), "closed": N_("Closed"),
    "all": N_("All"),
}
STATUS_LABELS = {
    "new": N_("New"), "routed": N_("Sent, not acknowledged"),
    "unassigned": N_("Nobody covers it"), "acknowledged": N_("Acknowledged"),
    "closed": N_("Closed"),
}
URGENCY_LABELS = {"urgent": N_("Urgent"), "not_urgent": N_("Not urgent"),
                  "unknown": N_("Not known")}
KIND_LABELS = {"alert": N_("Child alert"), "complaint": N_("Conduct complaint"),
               "help_request": N_("Help request")}
CATEGORY_LABELS = {
    "recruitment": N_("Recruitment or use"), "killing": N_("Killing"),
    "maiming": N_("Maiming"), "sexual_violence": N_("Sexual violence"),
    "abduction": N_("Abduction"), "attack_on_schools": N_("Attack on a school"),
    "attack_on_hospitals": N_("Attack on a hospital"),
    "denial_humanitarian_access": N_("Denial of humanitarian access"),
    "deprivation_liberty": N_("Detention"), "other": N_("Other"),
    "attack_on_schools_or_hospitals": N_("Attack on a school or hospital"),
    "military_use": N_("Military use of a school or hospital"),
    "threat": N_("Threat (early warning)"),
}
ROLE_LABELS = {
    "child_protection": N_("child protection"), "conduct": N_("conduct"),
    "assistance": N_("victim assistance"), "services": N_("services"),
    "coordinator": N_("coordinator"), "triage": N_("triage"),
}
VERIFICATION_LABELS = {
    "unverified": N_("Unverified"), "verified": N_("Verified"),
    "not_verifiable": N_("Not verifiable"), "false_report": N_("False report"),
}
OUTCOME_LABELS = {
    "referred": N_("Referred to a service"), "child_safe": N_("Child safe"),
    "task_force": N_("Reported to the task force"), "duplicate": N_("Duplicate of a case"),
    "other": N_("Other"),
}
AGE_LABELS = {"under_15": N_("Under 15"), "15_17": N_("15 to 17"), "unknown": N_("Not known")}
PERPETRATOR_LABELS = {
    "armed_group": N_("Armed group"), "state_forces": N_("Army or police"),
    "other": N_("Someone else"), "unknown": N_("Not known"),
}
PURPOSE_LABELS = {
    "case_alert": N_("Case sent"), "flood_summary": N_("Flood summary"),
    "escalation_1": N_("Escalation to the backups"),
    "escalation_2": N_("Escalation further up"),
    "reporter_reply": N_("Reply to the reporter"),
    "reporter_ack": N_("Follow-up SMS to the reporter"),
    "command_alert": N_("Warning of unconfirmed commands"),
    "contact": N_("Number to call, to a support service"),
}
OUTBOX_STATUS_LABELS = {
    "queued": N_("Queued"), "sending": N_("Sending"), "retrying": N_("Retrying"),
    "sent": N_("Sent"), "failed": N_("Failed"), "not_sent": N_("Not sent"),
}
STAGE_LABELS = {0: N_("Not escalated"), 1: N_("Stage 1: sent to the backups"),
                2: N_("Stage 2: sent further up")}
EVENT_LABELS = {
    "created": N_("Received"), "partial": N_("Saved from a cut-off call"),
    "completed": N_("Completed by the caller"), "spooled": N_("Saved after a database outage"),
    "routed": N_("Sent to focal points"), "flagged_flood": N_("Held back: many reports"),
    "no_woman_available": N_("No woman available"), "no_recipient": N_("Nobody covers it"),
    "sms_sent": N_("SMS sent"), "sms_not_sent": N_("SMS not sent"),
    "sms_failed": N_("SMS failed"), "sms_interrupted": N_("SMS interrupted"),
    "escalated": N_("Escalated"), "escalation_skipped": N_("Escalation skipped"),
    "acknowledged": N_("Acknowledged"), "closed": N_("Closed"),
    "unauthorised_command": N_("Refused command"), "linked": N_("Linked as the same incident"),
    "assigned": N_("Assigned"), "note_added": N_("Note added"),
    "verification_set": N_("Verification set"), "reopened": N_("Reopened"),
}
REFUSALS = {
    "not_allowed": N_("Your role may not do this on this case."),
    "already_closed": N_("This case is already closed."),
    "not_closed": N_("This case is open: there is nothing to reopen."),
    "duplicate_of_missing": N_("Give the reference of another case you can see."),
    "unchanged": N_("Nothing changed."),
    "assignee_missing": N_("Choose who takes the case."),
    "assignee_not_allowed": N_("Choose someone of this case's area who may see it."),
    "empty_note": N_("Write something before adding a note."),
    "note_too_long": N_("This note is too long."),
    "bad_choice": N_("Choose one of the options."),
    "conflict": N_("Someone acted on this case at the same time. Try again."),
}


def label(table: Mapping[Any, str], key: Any, default: str = "") -> str:
    """Return the translated label of a code, the code itself when it has none."""
    text = table.get(key)
    return _(text) if text else (default or str(key))


@bp.app_template_filter("when")
def when_filter(moment: datetime | None) -> str:
    """Show a time as the desk does: UTC, to the minute."""
    return aware(moment).strftime("%Y-%m-%d %H:%M") if moment is not None else ""



def urgency_of(case: Case) -> str:
    if case.urgent is None:
        return "unknown"
    return "urgent" if case.urgent else "not_urgent"


def state_of(case: Case) -> str:
    text = label(STATUS_LABELS, status_of(case).value)
    if case.closed_at is None and case.acknowledged_at is None and case.escalation_stage:
        text = _("%(state)s, escalated", state=text)
    return text



def find_case(db: Session, user: User, reference: str) -> Case:
    case = scope.find(db, user, reference)
    if case is None:
        abort(404)  # not there, or not theirs: the same answer
    return case


