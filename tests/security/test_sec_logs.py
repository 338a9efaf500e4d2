"""Logs are JSON lines with a request id, and hold no number, no key, no message text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.logs import json_handler
from gateway.privacy.pseudonyms import pseudonym
from gateway.storage.db import session_scope
from gateway.storage.models import Case, OutboxMessage
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone
from tests.test_ussd import walk_alert

PHONE = "+243970001234"
SMS_PHONE = "+243990004321"
OTHER_PHONES = ["+243990001111", "+243990002222", "+243990003333"]
FREE_TEXT = "the xyzzy family took the boy"
TRACES = ["243970001234", "0970001234", "970001234"]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_every_flow_logs_json_lines_without_numbers_keys_or_text(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None], log_stream: io.StringIO,
) -> None:
    deployment.standard(app)
    client = app.test_client()
    walk_alert(Caller(client, phone=PHONE))
    french = Caller(client, phone="+243970005678")
    french.dial()
    french.choose("Fran")
    french.press("3")  # wherever it leads: another path through the flows
    # The complaint, the help request and the status flows, by USSD: the first option each time.
    for entry, phone in (("3", OTHER_PHONES[0]), ("4", OTHER_PHONES[1]), ("2", OTHER_PHONES[2])):
        caller = Caller(client, phone=phone)
        caller.dial()
        caller.press("2")  # English
        caller.press(entry)
        while caller.screen.startswith("CON ") and len(caller.inputs) < 25:
            caller.press("1")
    # And by SMS: a conversation with free text, and a one-shot report in the sender's words.
    sms = Phone(client, at_api, run_jobs, number=SMS_PHONE)
    for text in ("ALERT", "1", "1", "1", "1", "1", "1", "1", FREE_TEXT, "2", "1",
                 f"ALERT {FREE_TEXT} again", "STATUS 1234567"):
        sms.send(text)
    client.post("/africastalking/ussd", data={"sessionId": "x", "phoneNumber": PHONE,
                                              "text": "1*" * 3000})  # refused: too large
    run_jobs()
    with session_scope(app) as session:
        message_id = session.scalars(select(OutboxMessage.provider_message_id)).first()
    client.post("/africastalking/delivery-reports",
                data={"id": message_id, "status": "Failed", "phoneNumber": PHONE})

    with session_scope(app) as session:
        kinds = sorted(str(kind) for kind in session.scalars(select(Case.kind)))
        triaged = session.scalars(select(Case.needs_triage)).all()
    assert {"alert", "complaint", "help_request"} <= set(kinds), kinds
    assert sum(triaged) == 1  # the one-shot SMS report

    lines = [line for line in log_stream.getvalue().splitlines() if line]
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    assert any(e["logger"] == "gateway.channels.ussd.hop" and e["request_id"] for e in entries)
    logs = log_stream.getvalue()
    secrets = [app.config["SECRET_KEY"], *app.config["ENCRYPTION_KEYS"],
               pseudonym(PHONE, app.config["SECRET_KEY"])]
    texts = [message["form"]["message"] for message in at_api.messages]
    assert texts
    numbers = [number[1:] for number in [SMS_PHONE, *OTHER_PHONES]]
    for forbidden in TRACES + secrets + texts + numbers + ["xyzzy"]:
        assert forbidden not in logs


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced(
    make_app: Callable[..., Flask], log_stream: io.StringIO
) -> None:
    client = make_app(MAX_BODY_BYTES=10).test_client()
    given = client.post("/africastalking/ussd", data={"text": "1" * 50},
                        headers={"X-Request-Id": "req-0123456789"})
    assert given.status_code == 413 and given.headers["X-Request-Id"] == "req-0123456789"
    refused = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [e["request_id"] for e in refused if "refused" in e["message"]] == ["req-0123456789"]
    bad = client.post("/africastalking/ussd", headers={"X-Request-Id": "bad id {}"})
    assert bad.headers["X-Request-Id"] != "bad id {}" and len(bad.headers["X-Request-Id"]) == 32
