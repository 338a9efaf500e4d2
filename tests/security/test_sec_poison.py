"""A poison message silences nothing: digits of any script are read, a failing SMS is given up.

Played through the webhooks as Africa's Talking posts them, with a real RQ worker: answers typed
in Ethiopic, Arabic-Indic, Devanagari, fullwidth or superscript digits are read as the digits
they are; a message whose job fails every time ends failed after three runs, erased, counted in
/metrics and never queued again; and the database error that fails it leaves the sender's
number and words nowhere: not in a log, not in Redis (RQ's failed jobs included), not in the
database.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gateway.cases.focal_commands import senders
from gateway.cases.references import is_valid
from gateway.logs import json_handler
from gateway.storage.db import Base, get_engine, session_scope
from gateway.storage.models import Case, InboundMessage, InboundStatus
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_sms import Phone
from tests.test_ussd import reference_in, walk_alert
from workers.inbound import MAX_ATTEMPTS
from workers.sweep import sweep

METRICS_TOKEN = "metrics-token-for-poison-tests-0123456789"
SCRIPTS = {
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "devanagari": "०१२३४५६७८९",
    "ethiopic": " ፩፪፫፬፭፮፯፰፱",  # no zero in Ethiopic numerals
    "fullwidth": "０１２３４５６７８９",
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
    "ascii": "0123456789",
}
SENDER = "+243991357924"  # used by this file alone: any trace of it anywhere is a leak
WORDS = "quokka-7731 men took two girls near the river"


def in_scripts(digits: str) -> str:
    """Write ASCII digits, each in the next script (Ethiopic skipped for a zero)."""
    names = list(SCRIPTS)
    out = []
    for i, digit in enumerate(digits):
        name = names[i % len(names)]
        if name == "ethiopic" and digit == "0":
            name = "arabic-indic"
        out.append(SCRIPTS[name][int(digit)])
    return "".join(out)


def inbound(app: Flask) -> list[InboundMessage]:
    with session_scope(app) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def run_sweep(app: Flask) -> dict[str, int]:
    with app.app_context():
        return sweep(min_age=0)


@pytest.fixture
def metrics_app(make_app: Callable[..., Flask], at_api: StandInAPI) -> Flask:
    return make_app(
        AT_USERNAME="gateway-test", AT_API_KEY="at-test-api-key", AT_API_URL=at_api.url,
        AT_SENDER_ID="ALERTS", METRICS_TOKEN=METRICS_TOKEN,
    )


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = json_handler(stream)
    loggers = [logging.getLogger(), logging.getLogger("rq"), logging.getLogger("rq.worker"),
               logging.getLogger("rq.job")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    loggers[0].addHandler(handler)
    yield stream
    loggers[0].removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


# Digits of every script ----------------------------------------------------------------------


def test_a_status_sms_in_digits_of_six_scripts_is_answered_and_read(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = reference_in(walk_alert(Caller(client)))
    run_jobs()
    phone = Phone(client, at_api, run_jobs, number="+243990007777")

    # The attack of the issue, verbatim: a proper answer (no such report), the message read.
    assert not is_valid("1234567")
    assert phone.send("STATUS ፩٢٣४५６７") == (
        "This number has a typing mistake. Check it and try again."
    )
    mixed = in_scripts(reference)
    assert not mixed.isascii()
    assert phone.send(f"STATUS {mixed}") == f"Your report {reference} was received."
    assert phone.send(f"STATUS {in_scripts(reference[:3])} {reference[3:]}") == (
        f"Your report {reference} was received."
    )
    assert phone.send("STATUS ²³⁴") == "This number has a typing mistake. Check it and try again."

    messages = inbound(app)
    assert [m.status for m in messages] == [InboundStatus.PROCESSED] * 4
    assert all(m.body is None and m.reply_to is None and m.attempts == 1 for m in messages)
    assert run_sweep(app)["sms"] == 0  # nothing left to queue again


def test_a_focal_point_acknowledges_with_the_reference_in_other_scripts(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = reference_in(walk_alert(Caller(client)))
    run_jobs()
    ouaka = Phone(client, at_api, run_jobs, number=deployment.OUAKA_PHONE)
    ouaka.inbox()  # the alert itself
    assert ouaka.command(f"OK {in_scripts(reference)}") == (
        f"Case {reference}: acknowledged. Thank you."
    )
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None and case.acknowledged_at is not None
    assert [m.status for m in inbound(app)] == [InboundStatus.PROCESSED] * 2  # OK, its code


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_ussd_menu_answered_in_any_script_goes_where_the_ascii_digit_goes(
    app: Flask, client: FlaskClient, script: str
) -> None:
    deployment.standard(app)
    guide = Caller(client, phone="+243970006001")
    walk_alert(guide)
    typed = [in_scripts_of(script, key) for key in guide.inputs]
    other = Caller(client, phone="+243970006002")
    other.dial()
    for key in typed:
        screen = other.press(key)
        assert "sorry" not in screen.lower()
    # Every screen the same as the ASCII caller's (the reference differs, drawn anew).
    assert other.screens[:-1] == guide.screens[:-1]
    assert other.screen.startswith("END ") and is_valid(reference_in(other.screen))
    with session_scope(app) as session:
        assert len(session.scalars(select(Case)).all()) == 2


def in_scripts_of(script: str, key: str) -> str:
    """Write the ASCII digits of key in one script (Ethiopic has no zero: kept ASCII)."""
    digits = SCRIPTS[script]
    return "".join(digits[int(ch)] if digits[int(ch)] != " " else ch for ch in key)


def test_the_first_menu_of_the_issue_answered_with_an_ethiopic_one(client: FlaskClient) -> None:
    ascii_caller, ethiopic = Caller(client, phone="+243970006003"), Caller(client,
                                                                       phone="+243970006004")
    ascii_caller.dial()
    ethiopic.dial()
    assert ethiopic.press("፩") == ascii_caller.press("1")
    assert ethiopic.screen.startswith("CON ")
    assert ethiopic.press("፩") == ascii_caller.press("1")


def test_an_sms_conversation_answered_in_other_scripts(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    ascii_phone = Phone(client, at_api, run_jobs, number="+243990007001")
    other = Phone(client, at_api, run_jobs, number="+243990007002")
    assert other.send("ALERT") == ascii_phone.send("ALERT")
    for ascii_key, key in (("1", "፩"), ("1", "١"), ("1", "१"), ("1", "１"), ("1", "¹")):
        expected = ascii_phone.send(ascii_key)
        assert other.send(key) == expected, key
    assert all(m.status == InboundStatus.PROCESSED for m in inbound(app))


# A message whose job always fails ------------------------------------------------------------


@pytest.fixture
def broken_focal_point_lookup(metrics_app: Flask) -> Iterator[None]:
    """Rename the column every SMS's focal point lookup reads: its job fails, for real."""
    engine = get_engine(metrics_app)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE focal_points RENAME COLUMN active TO active_broken"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE focal_points RENAME COLUMN active_broken TO active"))


def post_sms(client: FlaskClient, number: str, words: str) -> None:
    response = client.post(
        "/africastalking/sms",
        data={"from": number, "to": "12345", "text": words, "date": "2026-11-27 10:00:00",
              "id": uuid.uuid4().hex, "linkId": "", "networkCode": "63001"},
    )
    assert response.status_code == 200, response.data


def metric(client: FlaskClient, name: str) -> float:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def redis_contents(redis: Redis) -> str:
    """Every key and value of Redis, compressed values (RQ's job data, results) opened."""
    blobs: list[bytes] = []
    for key in redis.scan_iter(count=1000):
        blobs.append(key)
        kind = redis.type(key).decode()
        if kind == "string":
            blobs.append(redis.get(key) or b"")
        elif kind == "hash":
            for field, value in redis.hgetall(key).items():
                blobs += [field, value]
        elif kind == "list":
            blobs += redis.lrange(key, 0, -1)
        elif kind == "set":
            blobs += list(redis.smembers(key))
        elif kind == "zset":
            blobs += redis.zrange(key, 0, -1)
        elif kind == "stream":
            for _id, fields in redis.xrange(key):
                for field, value in fields.items():
                    blobs += [field, value]
    opened: list[bytes] = []
    for blob in blobs:
        opened.append(blob)
        for attempt in (lambda b: zlib.decompress(b),
                        lambda b: zlib.decompress(base64.b64decode(b, validate=True))):
            try:
                opened.append(attempt(blob))
            except (zlib.error, binascii.Error, ValueError):
                pass
    return "\n".join(blob.decode("utf-8", "replace") for blob in opened)


def database_contents(app: Flask) -> str:
    """Every value of every table, and on SQLite the bytes of the files themselves."""
    parts: list[str] = []
    with get_engine(app).connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                parts.append(repr(tuple(row)))
    url = make_url(app.config["DATABASE_URL"])
    if url.drivername.startswith("sqlite") and url.database:
        for suffix in ("", "-wal"):
            path = Path(url.database + suffix)
            if path.exists():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def traces_of(number: str) -> list[str]:
    digits = number.lstrip("+")
    return [digits, "0" + digits[3:], digits[3:], digits[-6:]]


def test_an_sms_whose_job_always_fails_is_given_up_erased_counted_and_leaks_nothing(
    metrics_app: Flask, run_jobs: Callable[..., None], broken_focal_point_lookup: None,
    log_stream: io.StringIO, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = metrics_app
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    assert metric(client, "gateway_inbound_failed") == 0
    post_sms(client, SENDER, WORDS)
    [message] = inbound(app)
    assert message.body and message.reply_to  # kept (encrypted) until read or given up

    for run in range(1, MAX_ATTEMPTS + 1):
        if run > 1:
            assert run_sweep(app)["sms"] == 1  # the sweep queues the unread message again
        run_jobs(app)
        [message] = inbound(app)
        assert message.attempts == run
        if run < MAX_ATTEMPTS:
            assert message.status == InboundStatus.RECEIVED and message.body

    assert message.status == InboundStatus.FAILED
    assert message.body is None and message.reply_to is None and message.processed_at
    assert run_sweep(app)["sms"] == 0  # given up: never queued again
    run_jobs(app)
    assert inbound(app)[0].attempts == MAX_ATTEMPTS
    assert metric(client, "gateway_inbound_failed") == 1

    # The failure was real, and RQ kept it, reduced to the class and the frames it went through.
    redis = redis_contents(app.extensions["redis"])
    # OperationalError on SQLite, ProgrammingError on PostgreSQL: the class, never its message.
    assert re.search(r"JobFailed: (Operational|Programming)Error at", redis)
    logs = log_stream.getvalue() + "\n" + caplog.text
    captured = capfd.readouterr()
    logs += "\n" + captured.out + "\n" + captured.err
    assert re.search(r"given up after 3 failed runs \((Operational|Programming)Error\)", logs)
    entries = [json.loads(line) for line in log_stream.getvalue().splitlines() if line]
    assert any(e["logger"] == "workers.inbound" and "given up" in e["message"] for e in entries)
    database = database_contents(app)
    # What any handler would see of the error itself: the statement, never its parameters.
    with session_scope(app) as session, pytest.raises(DBAPIError) as raised:
        senders(session, SENDER)
    assert "parameters hidden" in str(raised.value)
    assert not any(trace in str(raised.value) for trace in traces_of(SENDER))

    for where, contents in (("logs", logs), ("redis", redis), ("database", database)):
        # The exception's own message ("no such column") is reduced away too.
        extra = [] if where == "database" else ["no such column", "does not exist"]
        for forbidden in [*traces_of(SENDER), WORDS, "quokka", *extra]:
            assert forbidden not in contents, (where, forbidden)
