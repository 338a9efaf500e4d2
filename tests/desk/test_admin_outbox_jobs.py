"""The outbox and the failed jobs on the administration pages: every SMS without a reporter's
number or words; a job that failed for real, retried from the page."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gateway.storage.db import get_engine, session_scope
from gateway.storage.models import InboundMessage, InboundStatus, OutboxMessage
from gateway.storage.redis import client_options
from tests.conftest import StandInAPI
from tests.desk.conftest import UserFactory, login, post
from tests.desk.test_admin import ADMIN, audit_rows, browser, table_rows
from tests.test_follow_up import CALLER, follow_up, report, to_caller
from workers.queues import ALL, DEFAULT

SENDER = "+243990246813"
WORDS = "wombat-5524 soldiers took a boy from the market"


@pytest.fixture
def admin(desk_app: Flask, make_user: UserFactory) -> FlaskClient:
    make_user(ADMIN, "admin", ["CF"])
    client = browser(desk_app)
    login(client, ADMIN)
    return client


def traces_of(number: str) -> list[str]:
    """The forms a number could be written in."""
    digits = number.lstrip("+")
    return [number, digits, "0" + digits[3:], digits[3:]]


def outbox_rows(client: FlaskClient, query: str = "") -> list[str]:
    return table_rows(client.get(f"/admin/outbox{query}").get_data(as_text=True))


def test_the_outbox_shows_a_reporters_message_as_reporter_never_its_number_or_words(
    desk_app: Flask, admin: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    reference = report(desk_app.test_client(), sms_later=True)
    run_jobs(desk_app)
    follow_up(desk_app, reference)  # the reporter asked for one SMS when followed up
    with session_scope(desk_app) as db:
        [queued] = db.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == "reporter_ack")).all()
        assert queued.recipient and queued.body  # kept, encrypted, until it is sent

    def check(html: str) -> None:
        for trace in traces_of(CALLER):
            assert trace not in html, trace

    html = admin.get("/admin/outbox").get_data(as_text=True)
    check(html)
    newest = table_rows(html)[0]
    assert f"{reference} Follow-up notice to reporter reporter Queued" in newest

    run_jobs(desk_app)
    [sms] = to_caller(at_api)
    html = admin.get("/admin/outbox").get_data(as_text=True)
    check(html)
    rows = table_rows(html)
    assert f"{reference} Follow-up notice to reporter reporter Sent 1 africastalking" in rows[0]
    assert sms not in html
    for part in sms.split(reference):  # the words around the reference, which is shown
        if part.strip(" .,:"):
            assert part.strip() not in html, part
    # The alerts to the focal points: their names, the provider and when.
    alerts = [row for row in rows[1:] if row.split()[1] == reference]
    assert alerts and all("Case alert" in row and "Sent" in row for row in alerts)
    assert any("Ouaka CP" in row for row in alerts)
    assert all(row.count(" UTC") == 2 for row in rows)  # created and sent

    only = outbox_rows(admin, "?purpose=reporter_ack")
    assert len(only) == 1 and "reporter" in only[0]
    assert all("Case alert" in row for row in outbox_rows(admin, "?purpose=case_alert"))
    assert outbox_rows(admin, "?status=failed") == ["No messages."]
    assert len(outbox_rows(admin, "?status=sent")) == len(rows)
    assert outbox_rows(admin, "?status=bogus") == rows  # an unknown filter is no filter


def test_a_failed_send_is_counted_on_the_index_and_filtered_on_the_outbox(
    desk_app: Flask, admin: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    at_api.script += [StandInAPI.reject(403, "InvalidPhoneNumber")] * 10
    reference = report(desk_app.test_client(), sms_later=False)
    run_jobs(desk_app)
    failed = outbox_rows(admin, "?status=failed")
    assert failed and all(reference in row and "Failed" in row for row in failed)
    assert any("InvalidPhoneNumber" in row for row in failed)
    index = admin.get("/admin").get_data(as_text=True)
    assert f'<strong id="count-failed">{len(failed)}</strong>' in index


@contextmanager
def broken_focal_point_lookup(app: Flask) -> Iterator[None]:
    """Rename the column every SMS's focal point lookup reads: its job fails, for real."""
    engine = get_engine(app)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE focal_points RENAME COLUMN active TO active_broken"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE focal_points RENAME COLUMN active_broken TO active"))


def inbound(db: Session) -> InboundMessage:
    message = db.scalar(select(InboundMessage))
    assert message is not None
    return message


def test_a_failed_job_is_listed_without_its_arguments_and_retry_requeues_it(
    desk_app: Flask, admin: FlaskClient, run_jobs: Callable[..., None]
) -> None:
    response = desk_app.test_client().post("/africastalking/sms", data={
        "from": SENDER, "to": "12345", "text": WORDS, "date": "2026-11-27 10:00:00",
        "id": uuid.uuid4().hex, "linkId": "", "networkCode": "63001"})
    assert response.status_code == 200
    with broken_focal_point_lookup(desk_app):
        run_jobs(desk_app)
    with session_scope(desk_app) as db:
        message = inbound(db)
        assert message.status == InboundStatus.RECEIVED and message.attempts == 1
        job_id = f"sms-in-{message.id}"

    html = admin.get("/admin/jobs").get_data(as_text=True)
    [row] = table_rows(html)
    assert row.startswith(f"{job_id} workers.inbound.process_inbound {DEFAULT} ")
    assert "UTC" in row and "JobFailed: " in row and "Error at " in row  # class and frames
    assert "Traceback" not in row and "no such column" not in row and "does not exist" not in row
    for trace in [*traces_of(SENDER), WORDS, "wombat"]:
        assert trace not in html, trace
    assert '<strong id="count-failed-jobs">1</strong>' in admin.get("/admin").get_data(
        as_text=True)

    status, html = post(admin, f"/admin/jobs/{job_id}/retry", {}, page=html)
    assert status == 200 and f"Job {job_id} is queued again." in html
    assert table_rows(html) == ["No failed jobs."]
    assert job_id in desk_app.extensions["queues"][DEFAULT].job_ids
    assert audit_rows(desk_app, "job_retried") == [(ADMIN, {"job_id": job_id})]

    run_jobs(desk_app)  # the database is repaired: the retried job reads the SMS
    with session_scope(desk_app) as db:
        message = inbound(db)
        assert message.status == InboundStatus.PROCESSED and message.attempts == 2

    # A job no longer failed (or never was) is said so, and nothing is recorded.
    _, html = post(admin, f"/admin/jobs/{job_id}/retry", {}, page=html)
    assert f"Job {job_id} is no longer among the failed jobs." in html
    assert len(audit_rows(desk_app, "job_retried")) == 1
    assert admin.post("/admin/jobs/not:a:job/retry").status_code in (400, 404)


def test_with_redis_away_the_pages_say_so_and_nothing_breaks(
    desk_app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = Redis(host="127.0.0.1", port=closed_port(), **client_options())
    monkeypatch.setitem(desk_app.extensions, "queues",
                        {name: Queue(name, connection=away) for name in ALL})
    index = admin.get("/admin")
    assert index.status_code == 200
    assert "the queues cannot be read now" in index.get_data(as_text=True)
    response = admin.get("/admin/jobs")
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and "Redis does not answer" in html
    _, html = post(admin, "/admin/jobs/sms-in-1/retry", {}, page=html)
    assert "The queues cannot be reached now" in html
    assert audit_rows(desk_app, "job_retried") == []


def closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
