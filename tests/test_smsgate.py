"""SMS through an Android phone (SMS Gateway for Android): signed events in, the phone's API out.

The phone is a real local HTTP server (tests/smsgate_standin.py) that the official client
talks to unpatched; its events are posted, signed, to /smsgate/webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.commands import smsgate as smsgate_cli
from gateway.config import load_config
from gateway.delivery.providers import get_provider
from gateway.errors import ConfigError
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    FocalPoint,
    InboundMessage,
    OutboxMessage,
    OutboxStatus,
)
from tests import deployment, smsgate_standin
from tests.smsgate_standin import SIGNING_KEY, StandInPhone, delivery, received, signed
from tests.test_anonymity import database_text, redis_bytes
from tests.test_ussd import reference_in

REPORTER = "+243970007777"
TRACES = ["243970007777", "0970007777", "970007777"]
CONFIRM = re.compile(r"(\w+ \d{6,8} \d{4})\b")
URL = "/smsgate/webhook"


@pytest.fixture
def phone_api() -> Iterator[StandInPhone]:
    yield from smsgate_standin.serve()


@pytest.fixture
def app(make_app: Callable[..., Flask], phone_api: StandInPhone) -> Flask:
    """An app whose SMS go through the Android phone (and no Africa's Talking account)."""
    return make_app(
        SMS_PROVIDER="android", SMSGATE_URL=phone_api.url,
        SMSGATE_USERNAME=smsgate_standin.USERNAME, SMSGATE_PASSWORD=smsgate_standin.PASSWORD,
        SMSGATE_SIGNING_KEY=SIGNING_KEY, SMSGATE_TIMEOUT=(2.0, 0.5),
        SEND_RETRY_DELAYS=[0.0, 0.0, 0.0],
    )


def post(client: FlaskClient, envelope: dict[str, Any], **signing: Any) -> int:
    body, headers = signed(envelope, **signing)
    return client.post(URL, data=body, headers=headers).status_code


class Sender:
    """A phone writing to the gateway's SIM: its SMS reach us as signed events."""

    def __init__(self, client: FlaskClient, phone_api: StandInPhone,
                 run_jobs: Callable[..., None], number: str = REPORTER) -> None:
        self.client, self.phone_api, self.run_jobs, self.number = (
            client, phone_api, run_jobs, number)
        self.seen = 0

    def send(self, text: str) -> str:
        assert post(self.client, received(self.number, text)) == 200
        self.run_jobs()
        return self.inbox()

    def inbox(self) -> str:
        mine = self.phone_api.texts_to(self.number)
        new, self.seen = mine[self.seen:], len(mine)
        return "\n---\n".join(new)

    def command(self, text: str) -> str:
        """Send a command that changes a case, then confirm it with the code it was sent."""
        asked = self.send(text)
        found = CONFIRM.search(asked)
        assert found, asked
        return self.send(found.group(1))


@pytest.fixture
def reporter(app: Flask, client: FlaskClient, phone_api: StandInPhone,
             run_jobs: Callable[..., None]) -> Sender:
    deployment.with_triage(app)
    return Sender(client, phone_api, run_jobs)


def walk_alert(reporter: Sender) -> str:
    """Report, in English, the recruitment of two or three girls in Bambari; the last reply."""
    first = reporter.send("ALERT")
    assert "1 Continue" in first, first
    reporter.send("1")
    reporter.send("1")  # recruitment
    reporter.send("3")  # Ouaka
    reporter.send("1")  # Bambari
    reporter.send("1")  # today
    reporter.send("1")  # an armed group
    reporter.send("1")  # the youngest under 15
    reporter.send("3")  # two or three girls
    reporter.send("1")  # no boys
    reporter.send("1")  # in danger now: free text
    reporter.send("Two girls taken at the market")
    reporter.send("no")  # no SMS later
    return reporter.send("1")


def outbox(app: Flask) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def alert_row(app: Flask) -> OutboxMessage:
    """The outbox row of the alert to Ouaka's focal point."""
    with session_scope(app) as session:
        row = session.scalar(
            select(OutboxMessage).join(FocalPoint, OutboxMessage.focal_point_id == FocalPoint.id)
            .where(FocalPoint.phone == deployment.OUAKA_PHONE).order_by(OutboxMessage.id).limit(1)
        )
        assert row is not None
        return row


def test_the_android_phone_is_the_provider(app: Flask) -> None:
    assert get_provider(app).name == "android"


def test_a_whole_alert_by_sms_through_the_phone(
    app: Flask, reporter: Sender, phone_api: StandInPhone
) -> None:
    last = walk_alert(reporter)
    reference = reference_in(last)
    with session_scope(app) as session:
        case = session.scalar(select(Case))
        assert case is not None
        assert (case.reference, case.channel, case.category) == (reference, "sms", "recruitment")
    [alert] = phone_api.texts_to(deployment.OUAKA_PHONE)
    assert reference in alert
    # Every message carries our id and asks for a delivery report; replies went by the phone.
    sent = [r["json"] for r in phone_api.requests if r["path"] == "/messages"]
    assert all(m["withDeliveryReport"] is True for m in sent)
    assert all(re.fullmatch(r"outbox-\d+-[0-9a-f]{8}", m["id"]) for m in sent)
    assert any(m["phoneNumbers"] == [REPORTER] for m in sent)
    row = alert_row(app)
    assert (row.status, row.provider) == (OutboxStatus.SENT, "android")
    assert row.provider_message_id == next(
        m["id"] for m in sent if m["phoneNumbers"] == [deployment.OUAKA_PHONE])


def test_status_and_a_focal_point_command_through_the_phone(
    app: Flask, client: FlaskClient, reporter: Sender, phone_api: StandInPhone,
    run_jobs: Callable[..., None],
) -> None:
    reference = reference_in(walk_alert(reporter))
    assert reference in reporter.send(f"STATUS {reference}")
    ouaka = Sender(client, phone_api, run_jobs, deployment.OUAKA_PHONE)
    ouaka.seen = 1  # the alert
    assert ouaka.command(f"OK {reference}") == f"Case {reference}: acknowledged. Thank you."
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None and case.acknowledged_at is not None


@pytest.mark.parametrize("tamper", ["wrong_key", "altered_body", "stale", "future", "no_headers",
                                    "no_signature", "uppercase_garbage"])
def test_an_event_not_signed_by_the_phone_is_refused(
    app: Flask, client: FlaskClient, tamper: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    envelope = received(REPORTER, "ALERT secret words")
    key = "another-key-0123456789abcdef" if tamper == "wrong_key" else SIGNING_KEY
    stamp = {"stale": int(time.time()) - 301, "future": int(time.time()) + 301}.get(tamper)
    body, headers = signed(envelope, key=key, timestamp=stamp)
    if tamper == "altered_body":
        body = body.replace(b"secret", b"secreT")
    if tamper == "no_headers":
        headers = {"Content-Type": "application/json"}
    if tamper == "no_signature":
        del headers["X-Signature"]
    if tamper == "uppercase_garbage":
        headers["X-Signature"] = "Z" * 64
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
    assert "secret words" not in caplog.text and "970007777" not in caplog.text
    assert "signature" in caplog.text


def test_no_signing_key_refuses_every_event(make_app: Callable[..., Flask]) -> None:
    bare = make_app(SMSGATE_SIGNING_KEY=None)
    assert post(bare.test_client(), received(REPORTER, "ALERT")) == 401


def test_a_repeated_event_changes_nothing_and_message_ids_are_not_unique(
    app: Flask, client: FlaskClient, reporter: Sender, phone_api: StandInPhone,
    run_jobs: Callable[..., None],
) -> None:
    event = received(REPORTER, "hello there")
    assert post(client, event) == 200
    assert post(client, event) == 200  # the phone retried: nothing more
    run_jobs()
    assert post(client, received(REPORTER, "hello there")) == 200  # same words, a new SMS
    run_jobs()
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2
    assert len(phone_api.texts_to(REPORTER)) == 1  # one notice a day, whatever came twice


def test_a_server_error_is_retried_and_a_rejection_is_not(
    app: Flask, reporter: Sender, phone_api: StandInPhone,
) -> None:
    phone_api.script.append(StandInPhone.fail_http(503))
    phone_api.script.append(StandInPhone.fail_http(500))
    reporter.send("ALERT")
    [reply] = outbox(app)
    assert (reply.status, reply.attempts) == (OutboxStatus.SENT, 3)
    phone_api.script.append(StandInPhone.fail_http(400))
    reporter.send("1")
    second = outbox(app)[1]
    assert (second.status, second.attempts) == (OutboxStatus.FAILED, 1)
    assert second.last_error and "400" in second.last_error


def test_a_timed_out_send_is_retried_and_409_means_already_accepted(
    app: Flask, reporter: Sender, phone_api: StandInPhone,
) -> None:
    phone_api.script.append(phone_api.hang())  # the phone takes it but answers too late
    first = reporter.send("ALERT")
    assert "1 Continue" in first
    [reply] = outbox(app)
    assert (reply.status, reply.attempts, reply.provider_status_code) == (
        OutboxStatus.SENT, 2, 409)
    tries = [r["json"]["id"] for r in phone_api.requests if r["path"] == "/messages"]
    assert len(tries) == 2 and tries[0] == tries[1]  # the same id: the phone sends it once
    assert len(phone_api.texts_to(REPORTER)) == 1


def test_delivery_events_update_the_outbox_and_a_failure_escalates(
    app: Flask, client: FlaskClient, reporter: Sender, phone_api: StandInPhone,
    run_jobs: Callable[..., None],
) -> None:
    walk_alert(reporter)
    row = alert_row(app)
    message_id = row.provider_message_id
    assert message_id
    assert post(client, delivery("sms:sent", message_id)) == 200
    assert alert_row(app).delivery_status == "Sent"
    assert post(client, delivery("sms:failed", message_id, reason="RESULT_ERROR_NO_SERVICE")) == 200
    failed = alert_row(app)
    assert (failed.status, failed.delivery_status, failed.failure_reason) == (
        OutboxStatus.FAILED, "Failed", "RESULT_ERROR_NO_SERVICE")
    run_jobs()
    assert len(phone_api.texts_to(deployment.OUAKA_BACKUP_PHONE)) == 1  # the next stage
    again = delivery("sms:failed", message_id, reason="RESULT_ERROR_NO_SERVICE")
    assert post(client, again) == 200 and post(client, again) == 200
    run_jobs()
    assert len(phone_api.texts_to(deployment.OUAKA_BACKUP_PHONE)) == 1


def test_delivered_is_final(app: Flask, client: FlaskClient, reporter: Sender) -> None:
    walk_alert(reporter)
    message_id = alert_row(app).provider_message_id
    assert message_id
    assert post(client, delivery("sms:delivered", message_id)) == 200
    assert post(client, delivery("sms:sent", message_id)) == 200  # late: changes nothing
    row = alert_row(app)
    assert (row.delivery_status, row.status) == ("Delivered", OutboxStatus.SENT)
    assert row.delivered_at is not None
    assert post(client, delivery("sms:delivered", "outbox-999999-00000000")) == 200  # not ours


def test_a_malformed_event_is_refused_and_a_sender_name_dropped(
    app: Flask, client: FlaskClient
) -> None:
    body, headers = signed({"id": "x"})  # signed, but no payload
    assert client.post(URL, data=body, headers=headers).status_code == 400
    assert post(client, received("Orange", "Promo")) == 200
    assert post(client, {"id": uuid.uuid4().hex, "event": "system:ping", "payload": {}}) == 200
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_no_trace_of_the_reporters_number(
    app: Flask, client: FlaskClient, reporter: Sender, phone_api: StandInPhone,
    run_jobs: Callable[..., None], caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    reporter.send("ALERT")
    # A message saved and its job queued, not yet read: the job's arguments are in Redis.
    assert post(client, received(REPORTER, "1")) == 200
    redis = app.extensions["redis"]
    queued = redis_bytes(redis)
    run_jobs()
    walk_rest = ["1", "3", "1", "1", "1", "1", "3", "1", "1", "Girls taken", "no", "1"]
    for text in walk_rest:
        reporter.send(text)
    assert reference_in(phone_api.texts_to(REPORTER)[-1])
    stored, kept = database_text(app), redis_bytes(redis)
    out = capsys.readouterr()
    for trace in TRACES:
        assert trace not in stored
        assert trace.encode() not in queued and trace.encode() not in kept
        assert trace not in caplog.text and trace not in out.out + out.err


def test_register_webhooks_and_status(
    app: Flask, client: FlaskClient, reporter: Sender, phone_api: StandInPhone,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    for name, value in {"SMSGATE_URL": phone_api.url, "SMSGATE_USERNAME": smsgate_standin.USERNAME,
                        "SMSGATE_PASSWORD": smsgate_standin.PASSWORD,
                        "SMSGATE_SIGNING_KEY": SIGNING_KEY,
                        "GATEWAY_SMS_PROVIDER": "android"}.items():
        monkeypatch.setenv(name, value)
    group = smsgate_cli.smsgate_group
    for _ in range(2):  # twice: the same four webhooks, replaced
        result = CliRunner().invoke(group, ["register-webhooks", "https://alerts.example.org"])
        assert result.exit_code == 0, result.output
    assert result.output.count("registered") == 4
    assert sorted(w["event"] for w in phone_api.webhooks.values()) == [
        "sms:delivered", "sms:failed", "sms:received", "sms:sent"]
    assert {w["url"] for w in phone_api.webhooks.values()} == {
        "https://alerts.example.org/smsgate/webhook"}

    reporter.send("hello")
    event = received(REPORTER, "again")
    post(client, event)
    post(client, event)  # counted once
    lines = smsgate_cli.status(app)
    assert lines[0].startswith(f"phone: answers at {phone_api.url}")
    assert sum(line.startswith("webhook ") for line in lines) == 4
    [count] = [line for line in lines if line.startswith("sms:received:")]
    assert count.startswith("sms:received: 2 received, last at ")
    assert "970007777" not in "\n".join(lines) and "again" not in "\n".join(lines)


def test_status_says_when_the_phone_does_not_answer(make_app: Callable[..., Flask]) -> None:
    down = make_app(SMSGATE_URL="http://127.0.0.1:9", SMSGATE_USERNAME="u", SMSGATE_PASSWORD="p",
                    SMSGATE_TIMEOUT=(0.5, 0.5))
    assert "does not answer" in smsgate_cli.status(down)[0]


ENV = {"SMSGATE_USERNAME": "sms", "SMSGATE_PASSWORD": "pw", "SMSGATE_SIGNING_KEY": SIGNING_KEY}
AT = {"AT_USERNAME": "user", "AT_API_KEY": "key"}


@pytest.mark.parametrize(("environ", "provider"), [
    ({}, None), (AT, "africastalking"), (ENV, "android"),
    ({**AT, **ENV, "GATEWAY_SMS_PROVIDER": "android"}, "android"),
    ({**AT, **ENV, "GATEWAY_SMS_PROVIDER": "africastalking"}, "africastalking"),
])
def test_the_provider_is_the_one_whose_credentials_are_set(
    environ: dict[str, str], provider: str | None, tmp_path: Any
) -> None:
    config = load_config({**environ, "GATEWAY_DATA_DIR": str(tmp_path)})
    assert config["SMS_PROVIDER"] == provider
    assert config["SMSGATE_URL"] == "https://api.sms-gate.app/3rdparty/v1"


@pytest.mark.parametrize(("environ", "named"), [
    ({**AT, **ENV}, "GATEWAY_SMS_PROVIDER"),
    ({"GATEWAY_SMS_PROVIDER": "carrier-pigeon"}, "GATEWAY_SMS_PROVIDER"),
    ({"SMSGATE_USERNAME": "sms"}, "SMSGATE_PASSWORD"),
    ({"GATEWAY_SMS_PROVIDER": "android"}, "SMSGATE_USERNAME"),
    ({**ENV, "SMSGATE_SIGNING_KEY": ""}, "SMSGATE_SIGNING_KEY"),
    ({**ENV, "SMSGATE_SIGNING_KEY": "short"}, "SMSGATE_SIGNING_KEY"),
    ({**ENV, "SMSGATE_URL": "192.168.1.20:8080"}, "SMSGATE_URL"),
    ({"GATEWAY_SMS_PROVIDER": "africastalking"}, "AT_USERNAME"),
])
def test_a_setting_that_cannot_work_is_named(
    environ: dict[str, str], named: str, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({**environ, "GATEWAY_DATA_DIR": str(tmp_path)})


def test_the_message_id_fits_the_phone(app: Flask) -> None:
    provider = get_provider(app)
    message_id = provider.message_id("outbox-123456789012")  # type: ignore[attr-defined]
    assert len(message_id) <= 36 and message_id.startswith("outbox-123456789012-")
    assert json.dumps(message_id)


def test_the_webhook_guard_stands_in_front(make_app: Callable[..., Flask]) -> None:
    envelope = received(REPORTER, "ALERT " + "x" * 300)
    outside = make_app(SMSGATE_SIGNING_KEY=SIGNING_KEY, ALLOWED_IPS=["10.0.0.0/8"])
    assert post(outside.test_client(), envelope) == 403
    small = make_app(SMSGATE_SIGNING_KEY=SIGNING_KEY, MAX_BODY_BYTES=200)
    assert post(small.test_client(), envelope) == 413


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"id": 1, "event": "sms:received", "payload": {}}',
    b'{"id": "a", "event": "sms:received", "payload": {"sender": "+23670000001"}}',
    b'{"id": "a", "event": "sms:received", "payload": {"sender": ["x"], "message": "hi"}}',
    b'{"id": "' + b"a" * 101 + b'", "event": "sms:sent", "payload": {}}',
    b'{"id": "b", "event": "sms:failed", "payload": {"messageId": 5, "reason": {}}}',
    b'{"id": "c", "event": "sms:received", "payload": {"sender": "+2367\\u0000", "message": "x"}}',
    b"{\"id\": \"d\", \"event\": \"sms:received\", \"payload\": "
    b"{\"sender\": \"+23670000001\", \"message\": \"\\u0000\\ud800\"}}",
])
def test_any_signed_bytes_get_an_answer_never_a_server_error(
    app: Flask, client: FlaskClient, body: bytes
) -> None:
    stamp = str(int(time.time()))
    signature = hmac.new(SIGNING_KEY.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    response = client.post(URL, data=body, headers={
        "X-Timestamp": stamp, "X-Signature": signature, "Content-Type": "application/json"})
    assert response.status_code < 500
