"""One sender's SMS: replies and pages limited per sender, free text read by `triage` only.

Through the webhook as Africa's Talking posts it, with a real worker; the local stand-in of the
provider's API records every SMS sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.cases.escalation import delay_for
from gateway.cases.references import new_reference
from gateway.storage.db import session_scope
from gateway.storage.models import (
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    InboundMessage,
    InboundStatus,
    Level,
    OutboxMessage,
    OutboxPurpose,
    Role,
)
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_complaints import case_by, move_time, to
from tests.test_sms import Phone, cases
from tests.test_ussd import reference_in, walk_alert

SENDER = "+243970006100"
THIRD_PARTY = "+243970006200"  # someone else's number, written in `from` by a spoofer
CONDUCT_PHONE = "+23670000021"
COORDINATOR_PHONE = "+23670000041"
NOT_TRIAGE = (deployment.OUAKA_PHONE, deployment.OUAKA_BACKUP_PHONE, deployment.NATIONAL_PHONE,
              CONDUCT_PHONE, COORDINATOR_PHONE)
SUMMARY = "Many reports from one sender"


def post(client: FlaskClient, number: str, text: str) -> None:
    """Post one incoming SMS as Africa's Talking does, without running its job."""
    response = client.post("/africastalking/sms", data={
        "from": number, "to": "12345", "text": text, "date": "2026-11-27 10:00:00",
        "id": uuid.uuid4().hex, "linkId": "", "networkCode": "63001",
    })
    assert response.status_code == 200, response.data


def limited_app(make_app: Callable[..., Flask], at_api: StandInAPI, **config: object) -> Flask:
    """An app whose SMS go to the stand-in, with the deployment and a national triage desk."""
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   **config)
    deployment.with_triage(app)
    return app


def events(app: Flask, kind: CaseEventKind) -> list[CaseEvent]:
    with session_scope(app) as session:
        found = list(session.scalars(
            select(CaseEvent).where(CaseEvent.kind == kind).order_by(CaseEvent.id)
        ))
        session.expunge_all()
        return found


# Item 5: per-sender limits --------------------------------------------------------------------


def test_a_sender_over_the_limit_gets_no_reply_but_their_report_is_saved_and_routed(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = limited_app(make_app, at_api, SMS_PER_SENDER=(3, 3600))
    client = app.test_client()
    phone = Phone(client, at_api, lambda: run_jobs(app), number=SENDER)
    unknown = new_reference()
    for _ in range(3):
        assert "No report has this number" in phone.send(f"STATUS {unknown}")
    # The fourth message of the hour: a report in the sender's words. Kept, routed, unanswered.
    assert phone.send("ALERT armed men took two boys near the school of Ippy") == ""
    [case] = cases(app)
    assert case.needs_triage and case.status == CaseStatus.ROUTED
    [page] = to(at_api, deployment.TRIAGE_PHONE)
    assert case.reference in page and "armed men took two boys" in page
    # A flow started over the limit is read too (its state kept), still without a reply.
    assert phone.send("ALERT") == ""
    with session_scope(app) as session:
        messages = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [m.status for m in messages] == [InboundStatus.PROCESSED] * 5
        assert [m.outcome for m in messages][3:] == ["triage", "start:alert"]
        replies = session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == OutboxPurpose.REPORTER_REPLY)).all()
        assert len(replies) == 3  # no outbox row at all for the messages over the limit
    # Another sender is not touched by this one's limit.
    other = Phone(client, at_api, lambda: run_jobs(app), number=THIRD_PARTY)
    assert "No report has this number" in other.send(f"STATUS {unknown}")


def test_fifty_status_messages_get_at_most_the_limits_replies(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    deployment.with_triage(app)
    for _ in range(50):
        post(client, SENDER, "STATUS 1")
    run_jobs()
    count, _seconds = app.config["SMS_PER_SENDER"]
    assert count == 20  # the default: 20 an hour
    replies = to(at_api, SENDER)
    assert len(replies) == count
    assert all("typing mistake" in r or "Too many tries" in r for r in replies)
    with session_scope(app) as session:
        statuses = session.scalars(select(InboundMessage.status)).all()
    assert statuses == [InboundStatus.PROCESSED] * 50  # every one read, none given up


def test_a_spoofed_sender_sending_junk_gets_at_most_one_how_to_sms_a_day(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    deployment.with_triage(app)
    for index in range(30):
        post(client, THIRD_PARTY, f"junk {index} lorem ipsum")
    run_jobs()
    [notice] = to(at_api, THIRD_PARTY)  # the third party's phone gets one SMS, no more
    assert "ALERTE" in notice and "SUIVI" in notice
    assert len(cases(app)) == 30  # every message kept for a person to read
    # The triage desk is paged for the first, once more with the hour's summary: not 30 times.
    first, summary = to(at_api, deployment.TRIAGE_PHONE)
    assert "junk 0 lorem ipsum" in first
    assert summary.startswith(SUMMARY) and "junk 1 lorem ipsum" in summary
    # The same junk later the same day: still no second how-to SMS.
    phone = Phone(client, at_api, lambda: run_jobs(app), number=THIRD_PARTY)
    phone.inbox()
    assert phone.send("more junk") == ""


def test_five_triage_sms_from_one_sender_page_the_triage_desk_once_plus_one_summary(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    deployment.with_triage(app)
    phone = Phone(client, at_api, run_jobs, number=SENDER)
    references = [reference_in(phone.send(f"ALERT report number {index} from the market"))
                  for index in range(5)]  # each one-shot report still gets its reference
    first, summary = to(at_api, deployment.TRIAGE_PHONE)
    assert references[0] in first and "report number 0" in first
    assert summary.startswith(SUMMARY) and references[1] in summary
    flagged = events(app, CaseEventKind.FLAGGED_FLOOD)
    assert [e.case_id for e in flagged] == [c.id for c in cases(app)[1:]]
    assert all(e.detail and e.detail["triage"] is True for e in flagged)
    assert all(c.status == CaseStatus.ROUTED for c in cases(app))  # saved, visible, flagged
    # Grouped per sender: another sender's SMS to triage this hour pages the desk at once.
    other = Phone(client, at_api, run_jobs, number=THIRD_PARTY)
    reference = reference_in(other.send("ALERT a boy is held at the checkpoint"))
    assert reference in to(at_api, deployment.TRIAGE_PHONE)[2]
    for number in NOT_TRIAGE:
        assert to(at_api, number) == []


# Item 6: free text goes to `triage` only ------------------------------------------------------


def with_triage_in_ouaka(app: Flask) -> None:
    """Child protection, conduct and a coordinator in Ouaka; triage there and nationally."""
    deployment.with_triage(app)
    deployment.add_focal_point(app, name="Conduct Ouaka", phone=CONDUCT_PHONE, pcodes=["CF52"],
                               role=Role.CONDUCT)
    deployment.add_focal_point(app, name="Coordinator Ouaka", phone=COORDINATOR_PHONE,
                               pcodes=["CF52"], role=Role.COORDINATOR)
    deployment.add_triage(app, deployment.OUAKA_TRIAGE_PHONE, ["CF52"], name="Triage Ouaka")
    deployment.add_triage(app, deployment.OUAKA_TRIAGE_BACKUP_PHONE, ["CF52"],
                          name="Triage Ouaka backup", level=Level.BACKUP)


def test_a_triage_sms_about_a_peacekeeper_reaches_only_triage_focal_points(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    with_triage_in_ouaka(app)
    # The sender reported by USSD in Bambari before: their last known place is in Ouaka.
    walk_alert(Caller(client, phone=SENDER))
    run_jobs()
    assert len(to(at_api, deployment.OUAKA_PHONE)) == 1  # that alert, as before
    phone = Phone(client, at_api, run_jobs, number=SENDER)
    words = "the peacekeeper at the camp took a girl last night"
    reference = reference_in(phone.send(f"ALERT {words}"))

    # The nearest triage focal point of the sender's place reads it, with the words.
    [page] = to(at_api, deployment.OUAKA_TRIAGE_PHONE)
    assert reference in page and words in page
    assert to(at_api, deployment.TRIAGE_PHONE) == []
    # Nobody acknowledges: stage 1 to the triage backup, stage 2 to triage one level up.
    delay = delay_for(case_by(app, reference), app.config.get("ESCALATION_DELAYS"))
    move_time(app, delay + 60)
    run_jobs()
    [backup] = to(at_api, deployment.OUAKA_TRIAGE_BACKUP_PHONE)
    assert reference in backup and words in backup
    move_time(app, delay + 60)
    run_jobs()
    [national] = to(at_api, deployment.TRIAGE_PHONE)
    assert reference in national and words in national
    # No child-protection, conduct or coordinator phone ever gets the case or its words.
    for number in NOT_TRIAGE:
        for sms in to(at_api, number):
            assert reference not in sms and "peacekeeper" not in sms, number


def test_with_no_triage_focal_point_anywhere_the_case_is_kept_unassigned_and_said(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    deployment.standard(app)  # child protection everywhere, nobody to triage
    phone = Phone(client, at_api, run_jobs, number=SENDER)
    assert "ALERTE" in phone.send("the commander's men are at the school")
    [case] = cases(app)
    assert case.needs_triage and case.status == CaseStatus.UNASSIGNED
    [event] = events(app, CaseEventKind.NO_RECIPIENT)
    assert event.case_id == case.id and event.detail and event.detail["roles"] == ["triage"]
    assert [m["form"]["to"] for m in at_api.messages] == [SENDER]  # the how-to notice only


def test_a_focal_points_phone_is_answered_past_the_per_sender_limit(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = limited_app(make_app, at_api, SMS_PER_SENDER=(2, 3600))
    client = app.test_client()
    reference = reference_in(walk_alert(Caller(client)))
    run_jobs(app)
    focal_point = Phone(client, at_api, lambda: run_jobs(app), number=deployment.OUAKA_PHONE)
    before = len(to(at_api, deployment.OUAKA_PHONE))
    for _ in range(4):  # twice the limit of a reporter's number
        assert reference in focal_point.send(f"INFO {reference}")
    assert len(to(at_api, deployment.OUAKA_PHONE)) == before + 4
