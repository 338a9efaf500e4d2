"""/admin/outbox: every SMS, its state, retries and failure reasons.

Never a reporter's number or words: the query reads the columns shown and nothing else, so the
encrypted recipient and body never leave the database (nor are decrypted); a message to no focal
point reads "reporter".
"""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from gateway.desk.admin.common import PAGE_SIZE, admin_only, bp, offset, page_number, split_page
from gateway.desk.i18n import _
from gateway.storage.db import session_scope
from gateway.storage.models import Case, FocalPoint, OutboxMessage, OutboxPurpose, OutboxStatus

# The columns the page shows: OutboxMessage.recipient and .body are deliberately absent.
COLUMNS = (
    OutboxMessage.id,
    Case.reference,
    OutboxMessage.purpose,
    OutboxMessage.focal_point_id,
    FocalPoint.name.label("focal_point_name"),
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.provider,
    OutboxMessage.delivery_status,
    OutboxMessage.failure_reason,
    OutboxMessage.last_error,
    OutboxMessage.created_at,
    OutboxMessage.sent_at,
)


def purpose_labels() -> dict[str, str]:
    """Return why each kind of message is sent, in the page's language."""
    return {
        OutboxPurpose.CASE_ALERT: _("Case alert"),
        OutboxPurpose.FLOOD_SUMMARY: _("Flood summary"),
        OutboxPurpose.ESCALATION_1: _("Escalation to backups"),
        OutboxPurpose.ESCALATION_2: _("Escalation to coordinator"),
        OutboxPurpose.REPORTER_REPLY: _("Reply to an SMS"),
        OutboxPurpose.REPORTER_ACK: _("Follow-up notice to reporter"),
        OutboxPurpose.COMMAND_ALERT: _("Unconfirmed command alert"),
        OutboxPurpose.CONTACT: _("Contact number"),
    }


def status_labels() -> dict[str, str]:
    """Return each state of a message in the page's language."""
    return {
        OutboxStatus.QUEUED: _("Queued"),
        OutboxStatus.SENDING: _("Sending"),
        OutboxStatus.RETRYING: _("Retrying"),
        OutboxStatus.SENT: _("Sent"),
        OutboxStatus.FAILED: _("Failed"),
        OutboxStatus.NOT_SENT: _("Not sent"),
    }


@bp.get("/admin/outbox")
@admin_only
def outbox() -> str:
    """List every outgoing SMS, newest first, filtered by status and purpose."""
    status = request.args.get("status", "")
    purpose = request.args.get("purpose", "")
    status = status if status in set(OutboxStatus) else ""
    purpose = purpose if purpose in set(OutboxPurpose) else ""
    page = page_number()
    query = (
        select(*COLUMNS)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .outerjoin(FocalPoint, FocalPoint.id == OutboxMessage.focal_point_id)
        .order_by(OutboxMessage.id.desc())
    )
    if status:
        query = query.where(OutboxMessage.status == OutboxStatus(status))
    if purpose:
        query = query.where(OutboxMessage.purpose == OutboxPurpose(purpose))
    with session_scope() as db:
        rows = list(db.execute(query.limit(PAGE_SIZE + 1).offset(offset(page))))
    rows, more = split_page(rows, page)
    return render_template(
        "desk/admin_outbox.html", messages=rows, page=page, more=more, status=status,
        purpose=purpose, purposes=purpose_labels(), statuses=status_labels(),
    )
