"""Delivery reports from Africa's Talking update the outbox row they name, and nothing else."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.storage.db import session_scope
from gateway.storage.models import Case, CaseKind, Channel, FocalPoint, OutboxMessage, OutboxStatus
from tests import deployment


def sent_message(app: Flask, message_id: str = "ATXid_abc123") -> int:
    deployment.standard(app)
    with session_scope(app) as session:
        case = Case(
            reference="1234567", kind=CaseKind.ALERT, channel=Channel.USSD,
            category="abduction", language="en",
        )
        session.add(case)
        session.flush()
        focal_point = session.scalars(select(FocalPoint)).first()
        assert focal_point is not None
        row = OutboxMessage(
            case_id=case.id, focal_point_id=focal_point.id, status=OutboxStatus.SENT,
            provider="africastalking", provider_message_id=message_id, provider_status_code=101,
            attempts=1,
        )
        session.add(row)
        session.commit()
        return row.id


def report(client: FlaskClient, **fields: str) -> int:
    data = {"phoneNumber": deployment.OUAKA_PHONE, "networkCode": "62001", "retryCount": "0"}
    data.update(fields)
    return client.post("/africastalking/delivery-reports", data=data).status_code


def row(app: Flask, row_id: int) -> OutboxMessage:
    with session_scope(app) as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def test_every_status_is_kept_and_success_is_final(app: Flask, client: FlaskClient) -> None:
    row_id = sent_message(app)
    for status in ("Sent", "Submitted", "Buffered"):
        assert report(client, id="ATXid_abc123", status=status) == 200
        assert row(app, row_id).delivery_status == status
    assert report(client, id="ATXid_abc123", status="Success") == 200
    done = row(app, row_id)
    assert done.delivery_status == "Success" and done.delivered_at is not None
    # A late intermediate report never undoes the final one.
    assert report(client, id="ATXid_abc123", status="Buffered") == 200
    assert row(app, row_id).delivery_status == "Success"
    assert row(app, row_id).status == OutboxStatus.SENT


def test_a_repeated_report_changes_nothing(app: Flask, client: FlaskClient) -> None:
    row_id = sent_message(app)
    assert report(client, id="ATXid_abc123", status="Success") == 200
    first = row(app, row_id)
    assert report(client, id="ATXid_abc123", status="Success") == 200
    second = row(app, row_id)
    assert (second.updated_at, second.delivered_at) == (first.updated_at, first.delivered_at)


def test_a_failure_keeps_the_reason(app: Flask, client: FlaskClient) -> None:
    row_id = sent_message(app)
    status = report(client, id="ATXid_abc123", status="Failed", failureReason="UserInBlackList")
    assert status == 200
    failed = row(app, row_id)
    assert failed.delivery_status == "Failed"
    assert failed.failure_reason == "UserInBlackList"
    assert failed.status == OutboxStatus.FAILED
    assert "UserInBlackList" in (failed.last_error or "")


def test_expired_and_unknown_statuses_are_accepted(app: Flask, client: FlaskClient) -> None:
    row_id = sent_message(app)
    assert report(client, id="ATXid_abc123", status="SomethingNew") == 200
    assert row(app, row_id).delivery_status == "SomethingNew"
    assert report(client, id="ATXid_abc123", status="Expired") == 200
    assert row(app, row_id).delivery_status == "Expired"


def test_an_unknown_id_answers_200_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    row_id = sent_message(app)
    before = row(app, row_id)
    assert report(client, id="ATXid_not_ours", status="Failed", failureReason="X") == 200
    after = row(app, row_id)
    assert (after.delivery_status, after.updated_at) == (before.delivery_status, before.updated_at)


def test_a_report_without_id_or_status_is_refused(app: Flask, client: FlaskClient) -> None:
    assert report(client, status="Success") == 400
    assert report(client, id="ATXid_abc123") == 400
