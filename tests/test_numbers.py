"""Every number in E.164 form before anything compares it: a "+" lost on the way loses nobody."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.directory.imports import ImportFailed, import_focal_points, normalise_phone
from gateway.privacy.numbers import InvalidNumber, e164, require_e164
from gateway.privacy.pseudonyms import caller_pseudonym, pseudonym
from gateway.storage.db import session_scope
from gateway.storage.models import Case, FocalPoint, InboundMessage, Reporter
from tests import deployment
from tests.caller import Caller
from tests.conftest import StandInAPI
from tests.test_complaints import case_by
from tests.test_sms import CONFIRM
from tests.test_ussd import reference_in, walk_alert


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("+23670000001", "+23670000001"),
        ("+236 70 00 00 01", "+23670000001"),
        (" 23670000001", "+23670000001"),  # "+" posted unescaped: decoded as a space
        (" 236 70 00 00 01 ", "+23670000001"),
        ("0023670000001", "+23670000001"),
        ("00 236 70-00-00-01", "+23670000001"),
        ("+236 (70) 00-00-01", "+23670000001"),
        ("+243.97.000.1234", "+243970001234"),
        ("+23670000001\n", "+23670000001"),
    ],
)
def test_the_forms_a_number_arrives_in_become_one(raw: str, number: str) -> None:
    assert e164(raw) == number
    assert require_e164(raw) == number


@pytest.mark.parametrize(
    "raw",
    [
        "", " ", "+", "23670000001",  # bare digits: maybe national, never guessed at
        "070000001", "0701 000 021", "+2367000", "+2367000000000000", "+03670000001",
        "++23670000001", "+2367000000l", "Orange", "not a number", "+٢٣٦٧٠٠٠٠٠٠٠١",
        "+２３６７００００００１", "+236 70 00 00 01 ext 2", "1" * 100,
    ],
)
def test_what_is_no_e164_number_is_refused_not_guessed(raw: str) -> None:
    assert e164(raw) is None
    with pytest.raises(InvalidNumber) as raised:
        require_e164(raw)
    assert raw.strip() == "" or raw.strip() not in str(raised.value)  # never shown


def test_the_digest_of_a_number_is_the_same_in_every_form() -> None:
    secret = "a-secret-for-digests-only-0123456789"
    forms = ["+23670000001", "+236 70 00 00 01", " 23670000001", "0023670000001",
             "+236-70-00-00-01"]
    assert len({pseudonym(form, secret) for form in forms}) == 1
    assert pseudonym("+23670000001", secret) != pseudonym("+23670000002", secret)
    with pytest.raises(InvalidNumber):
        pseudonym("Orange", secret)


def test_focal_point_numbers_from_the_roster_are_kept_in_e164_form(
    app: Flask, tmp_path: Path
) -> None:
    deployment.add_places(app)
    header = "name,phone,organisation,gender,languages,locations,categories,role,level\n"
    good = tmp_path / "people.csv"
    good.write_text(
        header
        + "Ouaka officer,+236 (70) 00-00-11,UNICEF,F,fr,CF52,*,child_protection,primary\n"
        + "Ouaka backup,00236 70 00 00 12,UNICEF,M,fr,CF52,*,child_protection,backup\n",
        encoding="utf-8",
    )
    with session_scope(app) as session:
        import_focal_points(session, good)
        session.commit()
        phones = set(session.scalars(select(FocalPoint.phone)))
    assert phones == {"+23670000011", "+23670000012"}
    assert normalise_phone(" 23670000011") is None  # in a file a space is only a space
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "Local,0701 000 021,UNICEF,F,fr,CF52,*,child_protection,primary\n",
                   encoding="utf-8")
    with session_scope(app) as session, pytest.raises(ImportFailed) as failed:
        import_focal_points(session, bad)
    assert failed.value.lines == [2] and "0701" not in str(failed.value)


def post_sms_unescaped(client: FlaskClient, number: str, text: str) -> int:
    """Post an incoming SMS with its "+" left unescaped, as a careless relay does."""
    body = "&".join([
        f"from={number}", "to=12345", f"text={quote(text)}", "date=2026-11-27+10%3A00%3A00",
        f"id={uuid.uuid4().hex}", "networkCode=63001",
    ])
    response = client.post("/africastalking/sms", data=body.encode(),
                           content_type="application/x-www-form-urlencoded")
    return response.status_code


def test_ok_from_a_focal_point_whose_plus_became_a_space_is_accepted(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    reference = reference_in(walk_alert(Caller(client)))
    run_jobs()
    assert [m for m in at_api.messages if m["form"]["to"] == deployment.OUAKA_PHONE]

    # "+23670000011" in a body nobody escaped: the gateway reads " 23670000011".
    assert post_sms_unescaped(client, deployment.OUAKA_PHONE, f"OK {reference}") == 200
    run_jobs()
    asked = [m["form"]["message"] for m in at_api.messages
             if m["form"]["to"] == deployment.OUAKA_PHONE][-1]
    assert asked.startswith(f"Reply OK {reference} "), asked
    confirmation = CONFIRM.search(asked)
    assert confirmation is not None
    assert post_sms_unescaped(client, deployment.OUAKA_PHONE, confirmation.group(1)) == 200
    run_jobs()
    answered = [m["form"]["message"] for m in at_api.messages
                if m["form"]["to"] == deployment.OUAKA_PHONE][-1]
    assert answered == f"Case {reference}: acknowledged. Thank you."
    assert case_by(app, reference).acknowledged_at is not None
    # Every reply went to the number in E.164 form, none to a mangled one.
    assert all(m["form"]["to"].startswith("+") for m in at_api.messages)


def test_a_ussd_caller_is_the_same_caller_however_the_number_is_written(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    walk_alert(Caller(client, phone="+236 70 00 00 02"))
    walk_alert(Caller(client, phone="+23670000002"))
    with session_scope(app) as session:
        reporters = list(session.scalars(select(Reporter.pseudonym)))
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    with app.app_context():
        assert reporters == [caller_pseudonym("+23670000002")]
        assert caller_pseudonym("+236 70 00 00 02") == caller_pseudonym(" 23670000002")


def test_numbers_that_are_not_e164_are_refused_at_the_door(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    hop = client.post("/africastalking/ussd", data={
        "sessionId": "ATUid_national", "phoneNumber": "070000002", "text": "",
    })
    assert hop.status_code == 200 and hop.get_data(as_text=True).startswith("END ")
    assert app.extensions["redis"].keys("ussd:session:*") == []  # no session began
    assert post_sms_unescaped(client, "Orange", "ALERT") == 400
    assert post_sms_unescaped(client, "070000002", "ALERT") == 400
    ended = client.post("/africastalking/ussd-events", data={
        "sessionId": "ATUid_national", "phoneNumber": "070000002", "status": "Incomplete",
    })
    assert ended.status_code == 400
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert session.scalar(select(func.count()).select_from(Reporter)) == 0
