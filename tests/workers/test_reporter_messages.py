"""SMS to reporters: number and words encrypted while queued, erased once the send is final."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from gateway.cases.outbox import queue_reporter_message
from gateway.storage import crypto
from gateway.storage.db import session_scope
from gateway.storage.models import OutboxMessage, OutboxStatus
from tests.conftest import StandInAPI
from tests.workers.factories import add_case, add_places, outbox, work
from workers.enqueue import enqueue_sends
from workers.sending import send_outbox_message

NUMBER = "+243970001234"
TEXT = "Merci. Votre message a bien été reçu. Réf 4821."
SENT_TEXT = "Merci. Votre message a bien été recu. Réf 4821."  # ç folded: French folds to GSM-7


def queue(app: Flask, key: str = "reply-1", **options: object) -> int | None:
    """Queue one reporter message, commit, then enqueue it; return its id."""
    fields: dict[str, object] = {
        "number": NUMBER, "text": TEXT, "language": "fr", "purpose": "reporter_reply",
        "dedupe_key": key, "case_id": None,
    }
    fields.update(options)
    with app.app_context(), session_scope(app) as session:
        row = queue_reporter_message(app, session, **fields)  # type: ignore[arg-type]
        session.commit()
        if row is not None:
            enqueue_sends(app, [(row.id, row.urgent)])
        return row.id if row is not None else None


def test_a_reporter_message_is_sent_once_then_erased(
    app: Flask, at_api: StandInAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_places(app)
    case_id = add_case(app, "CF521")
    row_id = queue(app, case_id=case_id)
    assert row_id is not None
    assert queue(app, case_id=case_id) is None  # the same key: nothing more
    [row] = outbox(app)
    # Kept encrypted while it waits: neither the number nor the words in clear.
    assert row.recipient and row.body and row.focal_point_id is None
    assert NUMBER not in row.recipient and "reçu" not in row.body
    with app.app_context():
        assert crypto.decrypt(row.recipient) == NUMBER

    work(app)
    with app.app_context():
        send_outbox_message(row_id)  # run twice: nothing more

    [sms] = at_api.messages
    assert sms["form"]["to"] == NUMBER
    assert sms["form"]["message"] == SENT_TEXT
    [row] = outbox(app)
    assert row.status == OutboxStatus.SENT and row.attempts == 1
    assert row.recipient is None and row.body is None  # the number does not outlive it
    assert row.segments == 1 and row.provider_message_id
    assert row.purpose == "reporter_reply" and row.dedupe_key == "reply-1"
    logged = caplog.text
    assert NUMBER not in logged and NUMBER.lstrip("+") not in logged and "4821" not in logged


def test_languages_without_folding_keep_their_letters(app: Flask, at_api: StandInAPI) -> None:
    queue(app, language="en", text="Received: ça va.")
    work(app)
    [sms] = at_api.messages
    assert sms["form"]["message"] == "Received: ça va."
    assert outbox(app)[0].segments == 1


def test_a_refused_message_is_erased_with_the_reason(app: Flask, at_api: StandInAPI) -> None:
    at_api.script.append(at_api.reject(406, "UserInBlacklist"))
    queue(app)
    work(app)
    [row] = outbox(app)
    assert row.status == OutboxStatus.FAILED and row.last_error == "UserInBlacklist"
    assert row.recipient is None and row.body is None


def test_not_sent_without_a_provider_logs_nothing_of_the_reporter(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(EMBEDDED=True)  # no credentials: nothing leaves the machine
    queue(app)
    work(app)
    [row] = outbox(app)
    assert row.status == OutboxStatus.NOT_SENT
    assert row.recipient is None and row.body is None
    printed = capsys.readouterr()
    seen = caplog.text + printed.out + printed.err
    assert "not sent, no provider configured: SMS to a reporter (reporter_reply)" in caplog.text
    assert NUMBER not in seen and "4821" not in seen


def test_a_row_erased_by_stop_sends_nothing(app: Flask, at_api: StandInAPI) -> None:
    row_id = queue(app)
    with session_scope(app) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        row.recipient = row.body = None  # erased while queued, status not yet final
        session.commit()
    work(app)
    assert at_api.messages == []
    [row] = outbox(app)
    assert row.status == OutboxStatus.FAILED


def test_both_columns_are_rotated_with_the_keys() -> None:
    names = {(c.table, c.column) for c in crypto.encrypted_columns()}
    assert {("outbox_messages", "recipient"), ("outbox_messages", "body")} <= names
