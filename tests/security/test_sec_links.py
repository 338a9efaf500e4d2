"""A seized server links no number to what is older than the link period, nor reads a session.

Reports are filed through the real webhooks (USSD with the test client, SMS read by a worker),
moved back past GATEWAY_KEEP_REPORTER_LINK_DAYS, then purged: the caller's pseudonym is found
nowhere, their cases stay without a reporter, and a recent sender keeps flood control and STOP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.channels.ussd import get_sessions
from gateway.privacy.pseudonyms import pseudonym
from gateway.privacy.retention import purge
from gateway.storage.db import get_engine, session_scope
from gateway.storage.models import (
    Base,
    Callback,
    Case,
    CaseEvent,
    CaseEventKind,
    Reporter,
    aware,
)
from tests import deployment
from tests.caller import Caller
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.security.test_sec_flood import Returning
from tests.test_anonymity import database_text, redis_bytes
from tests.test_follow_up import follow_up
from tests.test_resume import finish_report
from tests.test_sms import Phone
from tests.test_ussd import reference_in, walk_alert
from tests.test_ussd_events import cut_after_place, end_session

OLD = "+243970006001"
RECENT = "+243970006002"
PCODE, CATEGORY = "CF521", "recruitment"  # Bambari; recruited by an armed group
DAY = 86400
CUT_OFF = "Your last call was cut off."


def report_asking_sms(client: FlaskClient, phone: str) -> str:
    """Report by USSD in English, asking for one SMS when followed up; return the reference."""
    caller = Caller(client, phone=phone)
    caller.dial()
    if "English" in caller.screen:  # a returning caller's language is remembered
        caller.choose("English")
    for key in ["1", "1", "1"]:
        caller.press(key)
    caller.choose("Ouaka")
    caller.choose("Bambari")
    # Today, armed group, under 15, 2-3 girls, no boys, in danger now, one SMS when followed up.
    for key in ["1", "1", "1", "3", "1", "1", "1"]:
        caller.press(key)
    return reference_in(caller.press("1"))


def age_everything(app: Flask, days: int) -> None:
    """Move every stored time back by `days`, as if it had all happened then."""
    moves = {
        "cases": ("created_at", "routed_at", "acknowledged_at"),
        "case_events": ("created_at",),
        "reporters": ("created_at", "last_seen_at", "language_chosen_at"),
        "inbound_messages": ("received_at", "processed_at"),
        "outbox_messages": ("created_at", "updated_at", "sent_at", "delivered_at"),
        "callbacks": ("created_at", "expires_at", "sent_at", "erased_at"),
    }
    delta = timedelta(days=days)
    with get_engine(app).begin() as conn:
        for name, columns in moves.items():
            table = Base.metadata.tables[name]
            for column in columns:
                rows = conn.execute(select(table.c.id, table.c[column])
                                    .where(table.c[column].is_not(None))).all()
                for row_id, moment in rows:
                    conn.execute(table.update().where(table.c.id == row_id)
                                 .values({column: aware(moment) - delta}))


def lingering_keys(app: Flask, needle: str) -> dict[bytes, int]:
    """Redis keys whose name or value holds the needle, with their time to live."""
    redis = app.extensions["redis"]
    found = {}
    for key in redis.scan_iter(count=1000):
        if needle.encode() in redis_bytes_of(app, key):
            found[key] = redis.ttl(key)
    return found


def redis_bytes_of(app: Flask, key: bytes) -> bytes:
    """A key's name and, for a string, its value."""
    redis = app.extensions["redis"]
    value = redis.get(key) if redis.type(key) == b"string" else b""
    return key + b"\n" + (value or b"")


def test_old_links_are_erased_recent_ones_kept(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   FLOOD_CASES_PER_HOUR=2, RATE_PER_CALLER=(0, 60))
    client = app.test_client()
    deployment.with_triage(app)
    days = int(app.config["KEEP_REPORTER_LINK_DAYS"])
    secret = app.config["SECRET_KEY"]
    old_pseudonym, recent_pseudonym = pseudonym(OLD, secret), pseudonym(RECENT, secret)

    # The old reporter: a USSD alert asking for an SMS (followed up: sent), an SMS one-shot
    # alert (answered), an SMS nobody understands (triaged at their last place).
    old_reference = report_asking_sms(client, OLD)
    old_phone = Phone(client, at_api, run_jobs, number=OLD)
    assert old_phone.send("ALERT men with guns took two boys near the market")
    old_phone.send("hello?")
    run_jobs(app)
    follow_up(app, old_reference)
    run_jobs(app)
    assert any(old_reference in m["form"]["message"] for m in at_api.messages
               if m["form"]["to"] == OLD)
    assert old_pseudonym in database_text(app)  # there is a link to erase
    age_everything(app, days + 1)

    # The recent reporter, within the period: a USSD alert asking for an SMS, an SMS alert.
    recent_reference = report_asking_sms(client, RECENT)
    recent_phone = Phone(client, at_api, run_jobs, number=RECENT)
    recent_phone.send("ALERT a girl was taken at the school")
    run_jobs(app)

    counts = purge(app)
    assert counts["reporter links of old cases"] == 3
    assert counts["reporters not seen within the link period"] == 1
    assert counts["incoming SMS past the link period"] == 2
    assert counts["callback requests past the link period"] == 1
    assert not any(purge(app, dry_run=True).values())  # nothing left to remove

    # Nowhere in the database (every table, every column), nor in Redis beyond what
    # expires within a day by itself (the once-a-day notice, rate-limit counters).
    stored = database_text(app)
    assert old_pseudonym not in stored and old_pseudonym[:40] not in stored
    assert recent_pseudonym in stored
    for key, ttl in lingering_keys(app, old_pseudonym[:40]).items():
        assert 0 < ttl <= DAY, key
    in_redis = redis_bytes(app.extensions["redis"])
    assert old_pseudonym.encode() not in in_redis

    with session_scope(app) as session:
        cases = {case.reference: case for case in session.scalars(select(Case))}
        assert len(cases) == 5  # every case stays
        old_cases = [case for case in cases.values() if case.reporter_id is None]
        assert len(old_cases) == 3 and old_reference in {case.reference for case in old_cases}
        assert all(case.source_key for case in cases.values() if case.reporter_id)
        assert all(case.source_key is None for case in old_cases)
        recent = cases[recent_reference]
        reporter = session.get(Reporter, recent.reporter_id)
        assert reporter is not None and reporter.pseudonym == recent_pseudonym
        assert reporter.last_location_id == recent.location_id is not None
        assert session.scalars(select(Reporter.pseudonym)).all() == [recent_pseudonym]

    # STOP still erases the recent sender's number; flood control still counts their cases.
    recent_phone.send("STOP")
    with session_scope(app) as session:
        callback = session.scalar(select(Callback))
        assert callback is not None and callback.number is None
    for _ in range(2):
        assert walk_alert(Returning(client, phone=RECENT)).startswith("END ")
    run_jobs(app)
    with session_scope(app) as session:
        flagged = session.scalars(
            select(CaseEvent.case_id).join(Case)
            .where(CaseEvent.kind == CaseEventKind.FLAGGED_FLOOD, Case.reporter_id.is_not(None))
        ).all()
        newest = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1))
        assert flagged == [newest]  # their third alert of the hour: over the limit of 2


def test_ussd_session_and_resume_records_hold_no_readable_answer(
    app: Flask, client: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    redis = app.extensions["redis"]
    caller = Caller(client, phone=OLD)
    cut_after_place(caller)
    sessions = [key for key in redis.scan_iter("ussd:session:*") if not key.endswith(b":lock")]
    assert sessions
    for key in sessions:
        raw = redis.get(key)
        assert PCODE.encode() not in raw and CATEGORY.encode() not in raw
        assert b"When did it happen" not in raw and b"Bambari" not in raw
    with app.app_context():
        record = get_sessions(app).load(caller.session_id)  # yet the gateway reads it
    assert record is not None and record.state["answers"]["location"] == PCODE

    assert end_session(client, caller) == 200
    [resume_key] = redis.scan_iter("ussd:resume:*")
    raw = redis.get(resume_key)
    assert PCODE.encode() not in raw and CATEGORY.encode() not in raw

    # The call goes on as usual: continued where it was cut, then sent with a reference.
    again = Caller(client, phone=OLD)
    screen = again.dial()
    if CUT_OFF not in screen:  # offered once the call's language is chosen
        screen = again.choose("English")
    assert CUT_OFF in screen
    again.press("1")
    assert reference_in(finish_report(again))
    assert walk_alert(Caller(client, phone=RECENT)).startswith("END ")
    run_jobs()
