"""After a whole call, no trace of the caller's number anywhere: database, Redis, jobs, logs."""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from gateway.cases.references import new_reference
from gateway.privacy.pseudonyms import pseudonym
from gateway.storage.db import get_engine, session_scope
from gateway.storage.models import Base, OutboxMessage, Reporter
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_ussd import walk_alert

PHONE = "+243970001234"
# The forms a number takes: international, national, and the subscriber part alone.
TRACES = ["243970001234", "0970001234", "970001234"]


def database_text(app: Flask) -> str:
    parts = []
    with get_engine(app).connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.append(" ".join(str(value) for value in row))
    return "\n".join(parts)


def redis_bytes(connection: Redis) -> bytes:
    parts: list[bytes] = []
    for key in connection.scan_iter(count=1000):
        parts.append(key)
        kind = connection.type(key).decode()
        if kind == "string":
            values = [connection.get(key) or b""]
        elif kind == "hash":
            values = [v for pair in connection.hgetall(key).items() for v in pair]
        elif kind == "list":
            values = connection.lrange(key, 0, -1)
        elif kind == "set":
            values = list(connection.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in connection.zrange(key, 0, -1, withscores=True)]
        else:
            values = []
        for value in values:
            parts.append(value)
            try:  # RQ compresses job data
                parts.append(zlib.decompress(value))
            except zlib.error:
                pass
    return b"\n".join(parts)


def test_no_trace_of_the_callers_number(
    app: Flask,
    client: FlaskClient,
    at_api: StandInAPI,
    run_jobs: Callable[..., int],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    deployment.standard(app)
    caller = Caller(client, phone=PHONE)
    end = walk_alert(caller)
    assert end.startswith("END ")
    assert caller.post(caller.text) == end  # a repeated hop too
    # Keep some jobs in Redis: route, but look before the send jobs run.
    redis = app.extensions["redis"]
    before_jobs = redis_bytes(redis)
    run_jobs()
    assert len(at_api.messages) == 1
    with session_scope(app) as session:
        message_id = session.scalars(select(OutboxMessage.provider_message_id)).one()
    client.post("/africastalking/delivery-reports", data={"id": message_id, "status": "Success"})

    stored = database_text(app)
    in_redis = before_jobs + redis_bytes(redis)
    output = capsys.readouterr()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    logs += "\n" + caplog.text + output.out + output.err
    assert stored and in_redis  # there is something to search
    for trace in TRACES:
        assert trace not in stored
        assert trace.encode() not in in_redis
        assert trace not in logs

    with session_scope(app) as session:
        [reporter] = session.scalars(select(Reporter))
        assert reporter.pseudonym == pseudonym(PHONE, app.config["SECRET_KEY"])
        assert reporter.pseudonym != pseudonym(PHONE, "another-secret-another-secret-12345")


def test_no_trace_of_an_sms_reporters_number_or_words(
    app: Flask,
    client: FlaskClient,
    at_api: StandInAPI,
    run_jobs: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An SMS report with free text and a callback, a one-shot report: nothing in clear."""
    from tests.test_sms import Phone

    caplog.set_level(logging.DEBUG)
    deployment.standard(app)
    redis = app.extensions["redis"]
    words = "the quartermaster zanzibar took my sister"
    phone = Phone(client, at_api, run_jobs, number=PHONE)
    phone.send("ALERT")
    mid_conversation = redis_bytes(redis)  # the open conversation's state, encrypted
    # ...Bambari; today, armed group, under 15, 2-3 girls, no boys; in danger now; words...
    for answer in ("1", "1", "3", "1", "1", "1", "1", "3", "1", "1", words, "1", "1"):
        phone.send(answer)
    phone.send(f"ALERT {words}")
    phone.send(f"OK {new_reference()}")  # a reporter's phone claiming a focal point's command
    assert len([m for m in at_api.messages if m["form"]["to"] == PHONE]) >= 10  # replies went

    stored = database_text(app)
    in_redis = mid_conversation + redis_bytes(redis)
    output = capsys.readouterr()
    logs = caplog.text + output.out + output.err
    assert stored and in_redis
    for trace in [*TRACES, "zanzibar", "quartermaster"]:
        assert trace not in stored, trace
        assert trace.encode() not in in_redis, trace
        assert trace not in logs, trace
    # Nor a plain hash of the number (every number can be tried): only keyed digests.
    for form in [PHONE, *TRACES]:
        plain = hashlib.sha256(form.encode()).hexdigest()
        assert plain[:32].encode() not in in_redis and plain[:32] not in stored, form
