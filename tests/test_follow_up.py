"""What a reporter may learn of their report, and the one SMS they may ask for, by USSD and SMS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from gateway.cases.follow_up import mark_followed_up
from gateway.privacy.retention import purge
from gateway.storage.db import session_scope
from gateway.storage.models import Callback, Case, OutboxMessage, utcnow
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone
from tests.test_ussd import reference_in
from workers.enqueue import enqueue_sends

CALLER = "+243970007777"
TOPIC_WORDS = ("child", "enfant", "alert", "report", "unicef", "protection", "recruit", "armed")


def report(client: FlaskClient, sms_later: bool) -> str:
    """Report by USSD in English, asking (or not) for an SMS when followed up; the reference."""
    caller = Caller(client, phone=CALLER)
    caller.dial()
    caller.choose("English")
    for key in ["1", "1", "1"]:
        caller.press(key)
    caller.choose("Ouaka")
    caller.choose("Bambari")
    # Today, an armed group, the youngest under 15, two or three girls, no boys, in danger now.
    for key in ["1", "1", "1", "3", "1", "1"]:
        caller.press(key)
    assert "Do you want one SMS" in caller.screen
    caller.press("1" if sms_later else "2")
    return reference_in(caller.press("1"))


def follow_up(app: Flask, reference: str) -> bool:
    """Someone follows the case up (in issue 5 a focal point's "OK" SMS does this)."""
    with app.app_context(), session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        result = mark_followed_up(app, session, case, by="test")
        session.commit()
        enqueue_sends(app, ((outbox_id, False) for outbox_id in result.outbox_ids))
    return result.changed


def to_caller(at_api: StandInAPI) -> list[str]:
    return [m["form"]["message"] for m in at_api.messages if m["form"]["to"] == CALLER]


def test_a_reporter_who_asked_gets_one_neutral_sms_when_followed_up(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=True)
    run_jobs()
    assert to_caller(at_api) == []  # nothing unsolicited, nothing before it is followed up
    with session_scope(app) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert callback.number and CALLER not in callback.number  # encrypted

    assert follow_up(app, reference) and not follow_up(app, reference)
    run_jobs()
    [sms] = to_caller(at_api)
    assert reference in sms
    assert not any(word in sms.lower() for word in TOPIC_WORDS), sms
    with session_scope(app) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert callback.number is None and callback.erased_at is not None
        sent = session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "reporter_ack"))
        assert sent is not None and sent.recipient is None and sent.body is None  # erased


def test_without_asking_nothing_is_ever_sent(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    follow_up(app, reference)
    run_jobs()
    assert to_caller(at_api) == []
    with session_scope(app) as session:
        assert session.scalars(select(Callback)).all() == []


def test_stop_erases_the_number_and_what_is_pending(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=True)
    run_jobs()
    assert Phone(client, at_api, run_jobs, number=CALLER).send("STOP") == ""
    with session_scope(app) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert callback.number is None
    follow_up(app, reference)
    run_jobs()
    assert to_caller(at_api) == []


def test_an_unsent_number_is_erased_after_30_days(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    report(client, sms_later=True)
    rule = "callback numbers after their limit"
    assert purge(app)[rule] == 0
    with session_scope(app) as session:
        session.execute(update(Callback).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert purge(app)[rule] == 1
    with session_scope(app) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert callback.number is None


def test_status_from_the_ussd_menu(app: Flask, client: FlaskClient) -> None:
    deployment.standard(app)
    reference = report(client, sms_later=False)
    caller = Caller(client, phone=CALLER)
    caller.dial()  # every call starts with the language menu, whoever dials
    assert caller.choose("English").startswith("CON What would you like to do?")
    caller.choose("Follow up a report")
    assert caller.press(reference) == f"END Your report {reference} was received."
    follow_up(app, reference)
    again = Caller(client, phone=CALLER)
    again.dial()
    again.choose("English")
    again.choose("Follow up a report")
    assert again.press(reference) == f"END Your report {reference} is being followed up."
    typo = Caller(client, phone=CALLER)
    typo.dial()
    typo.choose("English")
    typo.choose("Follow up a report")
    wrong = reference[:-1] + str((int(reference[-1]) + 1) % 10)  # one digit mistyped
    assert "typing mistake" in typo.press(wrong)


def test_an_sms_reporter_who_asked_gets_the_follow_up_sms_too(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    phone = Phone(client, at_api, run_jobs, number=CALLER)
    phone.send("ALERT")
    # ...Bambari; today, armed group, under 15, 2-3 girls, no boys; in danger now.
    for answer in ("1", "1", "3", "1", "1", "1", "1", "3", "1", "1"):
        phone.send(answer)
    assert "Do you want one SMS" in phone.send("1")  # nothing to add
    phone.send("yes")
    reference = reference_in(phone.send("send"))
    with session_scope(app) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert callback.number and CALLER[1:] not in callback.number
    follow_up(app, reference)
    run_jobs()
    sms = phone.inbox()
    assert reference in sms and "followed up" in sms
    assert not any(word in sms.lower() for word in TOPIC_WORDS), sms
