"""Logs are JSON lines with a request id, and hold no number, no key, no message text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gateway.db import session_scope
from gateway.logs import json_handler
from gateway.models import OutboxMessage
from gateway.privacy import pseudonym
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_ussd import walk_alert

PHONE = "+243970001234"
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
    client.post("/africastalking/ussd", data={"sessionId": "x", "phoneNumber": PHONE,
                                              "text": "1*" * 3000})  # refused: too large
    run_jobs()
    with session_scope(app) as session:
        message_id = session.scalars(select(OutboxMessage.provider_message_id)).first()
    client.post("/africastalking/delivery-reports",
                data={"id": message_id, "status": "Failed", "phoneNumber": PHONE})

    lines = [line for line in log_stream.getvalue().splitlines() if line]
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    assert any(e["logger"] == "gateway.ussd" and e["request_id"] for e in entries)
    logs = log_stream.getvalue()
    secrets = [app.config["SECRET_KEY"], *app.config["ENCRYPTION_KEYS"],
               pseudonym(PHONE, app.config["SECRET_KEY"])]
    texts = [message["form"]["message"] for message in at_api.messages]
    assert texts
    for forbidden in TRACES + secrets + texts:
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
