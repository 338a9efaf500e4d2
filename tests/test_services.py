"""Issue 13: the service directory, and the nearest service on a report's last screen."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flows.gsm import ussd_length
from gateway.directory.imports import ImportFailed, import_services
from gateway.storage.db import session_scope
from gateway.storage.models import Service, ServiceKind
from tests import deployment
from tests.caller import Caller
from tests.test_complaints import complain, with_conduct
from tests.test_help import ask_for_help
from tests.test_ussd import reference_in

HEADER = "name,kind,phone,locations,hours,languages\n"


def load(app: Flask, text: str, replace: bool = False) -> tuple[int, int, int]:
    with session_scope(app) as session:
        report = import_services(session, io.BytesIO(text.encode()), replace=replace)
        session.commit()
    return report.created, report.updated, report.unchanged


def services(app: Flask) -> list[Service]:
    with session_scope(app) as session:
        found = list(session.scalars(select(Service).order_by(Service.id)))
        for service in found:
            _ = service.locations
        session.expunge_all()
        return found


def test_a_good_file_is_imported_and_a_reimport_updates_never_duplicates(app: Flask) -> None:
    deployment.add_places(app)
    text = HEADER + (
        "Bambari clinic,health,+236 72 00 00 12,CF521,24/7,fr;sg\n"
        "Ouaka listening centre,GBV,0023672000011,CF52;CF522,Mon-Fri 8-16,FR\n"
    )
    assert load(app, text) == (2, 0, 0)
    assert load(app, text) == (0, 0, 2)
    assert load(app, text.replace("24/7", "Mon-Sat 8-18")) == (0, 1, 1)
    clinic, centre = services(app)
    assert clinic.phone == "+23672000012" and clinic.hours == "Mon-Sat 8-18"
    assert centre.kind == ServiceKind.GBV and centre.phone == "+23672000011"
    assert {loc.pcode for loc in centre.locations} == {"CF52", "CF522"}
    assert centre.languages == ["fr"]
    # --replace: the file is the whole directory.
    load(app, HEADER + "Bambari clinic,health,+23672000012,CF521,,fr\n", replace=True)
    assert [s.active for s in services(app)] == [True, False]


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(app: Flask) -> None:
    deployment.add_places(app)
    text = HEADER + (
        "Good one,health,+23672000012,CF521,24/7,fr\n"
        "Bad kind,hospital,+23672000013,CF521,,fr\n"
        "Bad phone,gbv,72000013,CF521,,fr\n"
        "Bad place,gbv,+23672000014,XX9,,fr\n"
        "Good one,health,+23672000015,CF52,,fr\n"
    )
    with pytest.raises(ImportFailed) as failed:
        load(app, text)
    assert failed.value.lines == [3, 4, 5, 6]
    message = str(failed.value)
    assert "unknown kind 'hospital'" in message and "E.164" in message
    assert "'XX9'" in message and "same name and kind as line 2" in message
    assert "72000013" not in message  # numbers are never echoed
    assert services(app) == []


def test_the_last_screen_names_the_nearest_service_up_the_places(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    load(app, HEADER + (
        "National reintegration,reintegration,+23672000021,CF,Mon-Fri 8-16,en\n"
        "Ouaka reintegration,reintegration,+23672000022,CF52,Mon-Fri 9-15,en\n"
        "Ippy reintegration,reintegration,+23672000023,CF522,,en\n"
    ))
    last = ask_for_help(client, need="School")  # in Bambari (CF521), under Ouaka
    assert reference_in(last)
    assert last.endswith("\nHelp near you: Ouaka reintegration +23672000022, Mon-Fri 9-15")
    assert "National" not in last and "Ippy" not in last


def test_a_long_service_name_is_cut_never_the_reference(
    app: Flask, client: FlaskClient
) -> None:
    with_conduct(app)
    name = "Centre d'ecoute et d'accompagnement des survivantes de violences " * 3
    load(app, HEADER + f'"{name.strip()}",gbv,+23672000011,CF52,Mon-Fri 8-16 and Sat 8-12,fr\n')
    last = complain(client, when="Earlier")  # sexual abuse, not within 72 hours
    reference = reference_in(last)
    assert f"report number is {reference}." in last
    assert ussd_length(last) <= 182
    assert "+23672000011" in last and "..+23672000011" not in last
    assert ".. +23672000011" in last  # the name is cut, the number kept


def test_without_a_service_the_last_screen_is_as_before(
    app: Flask, client: FlaskClient
) -> None:
    with_conduct(app)
    last = complain(client, when="Earlier")
    assert last.rstrip().endswith("Keep it somewhere safe to ask about your report later.")
    assert "Help near you" not in last


def test_an_alert_about_recent_sexual_violence_points_to_health_and_the_nearest_gbv_service(
    app: Flask, client: FlaskClient
) -> None:
    deployment.standard(app)
    load(app, HEADER + "Ouaka listening centre,gbv,+23672000031,CF52,Mon-Sat 8-17,en\n")
    caller = Caller(client)
    caller.dial()
    caller.choose("English")
    caller.press("1")  # report a child in danger
    caller.press("1")  # who receives it, confidential
    caller.choose("Sexual violence")
    caller.choose("Ouaka")
    caller.choose("Bambari")
    caller.choose("Today")
    while not caller.screen.startswith("CON Send"):
        caller.press("1")  # the first option of every other question
    last = caller.press("1")
    assert reference_in(last)
    assert "health centre today" in last  # within 72 hours: the health hint comes first
    assert last.endswith("\nHelp near you: Ouaka listening centre +23672000031, Mon-Sat 8-17")
    assert ussd_length(last) <= 182
