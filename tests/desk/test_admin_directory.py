"""Focal points, places and services on the administration pages: list, search, deactivate,
and CSV upload through the import code of the commands (all or nothing, lines named)."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.storage.db import session_scope
from gateway.storage.models import FocalPoint, Location, Role, Service
from tests import deployment
from tests.desk.conftest import UserFactory, csrf_of, login, post
from tests.desk.test_admin import ADMIN, audit_rows, browser, table_rows

ROSTER_HEADER = "name,phone,organisation,gender,languages,locations,categories,role,level\n"
GOOD_ROSTER = ROSTER_HEADER + (
    "Bria CP,+236 70 00 00 21,UNICEF,F,fr;sg,CF611,*,child_protection,primary\n"
    "Bria conduct,+23670000022,MINUSCA,M,fr,CF61,*,conduct,primary\n"
)
BAD_ROSTER = ROSTER_HEADER + (
    "Bria CP,+23670000021,UNICEF,F,fr,CF611,*,child_protection,primary\n"
    "Bad phone,0701 000 021,UNICEF,F,fr,CF611,*,child_protection,primary\n"
    "Nowhere,+23670000023,UNICEF,F,fr,CF999,*,child_protection,primary\n"
    "No role,+23670000024,UNICEF,F,fr,CF611,*,,primary\n"
)
SERVICES = (
    "name,kind,phone,locations,hours,languages\n"
    "Bambari health centre,health,+23675000001,CF521,Mon-Fri 8-16,fr;sg\n"
    "Ouaka legal aid,legal,+23675000002,CF52,,fr\n"
)


@pytest.fixture
def admin(desk_app: Flask, make_user: UserFactory) -> FlaskClient:
    make_user(ADMIN, "admin", ["CF"])
    client = browser(desk_app)
    login(client, ADMIN)
    return client


def upload(client: FlaskClient, page: str, content: str | bytes, *,
           replace: bool = False, name: str = "upload.csv") -> tuple[int, str]:
    """Upload a CSV file with the form of a list page, as a browser does."""
    data: dict[str, object] = {
        "csrf_token": csrf_of(client.get(page).get_data(as_text=True)),
        "file": (io.BytesIO(content.encode() if isinstance(content, str) else content), name),
    }
    if replace:
        data["replace"] = "1"
    response = client.post(f"{page}/import", data=data, content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def count(app: Flask, model: type, *where: object) -> int:
    with session_scope(app) as db:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


# Focal points ------------------------------------------------------------------------------


def test_the_roster_is_listed_and_searched_by_name_organisation_phone_and_place(
    desk_app: Flask, admin: FlaskClient
) -> None:
    assert upload(admin, "/admin/focal-points", GOOD_ROSTER)[0] == 200
    html = admin.get("/admin/focal-points").get_data(as_text=True)
    rows = table_rows(html)
    assert len(rows) == 5
    [bria] = [row for row in rows if row.startswith("Bria CP")]
    for shown in ("UNICEF", "Child protection", "primary", "fr, sg", "Bria (CF611)", "all",
                  "+23670000021", "yes", "Deactivate"):
        assert shown in bria, shown

    def found(q: str) -> set[str]:
        page = admin.get("/admin/focal-points", query_string={"q": q}).get_data(as_text=True)
        return {row.split(" UNICEF")[0].split(" MINUSCA")[0] for row in table_rows(page)}

    assert found("ouaka") == {"Ouaka CP", "Ouaka backup"}
    assert found("minusca") == {"Bria conduct"}
    assert found("+236 7000 0001") == {"National CP"}  # typed with spaces
    assert found("CF61") == {"Bria CP", "Bria conduct"}  # Haute-Kotto and below
    assert found("CF52") == {"Ouaka CP", "Ouaka backup"}
    assert found("nobody") == {"No focal point matches."}


def test_a_good_roster_file_adds_focal_points_and_shows_the_report_and_warnings(
    desk_app: Flask, admin: FlaskClient
) -> None:
    status, html = upload(admin, "/admin/focal-points", GOOD_ROSTER)
    assert status == 200
    assert "2 rows: 2 created, 0 updated, 0 unchanged." in html
    # roster_warnings: the standard deployment has nobody on triage; conduct covers only CF61.
    assert "no active focal point has the triage role" in html
    assert "reach no active conduct focal point" in html and "Ouaka (CF52)" in html
    assert count(desk_app, FocalPoint) == 5
    assert any(row.startswith("Bria conduct MINUSCA") for row in table_rows(html))
    assert audit_rows(desk_app, "focal_points_imported") == [(ADMIN, {
        "replace": False, "created": 2, "updated": 0, "unchanged": 0, "deactivated": 0})]

    # The same file again with "replace": unchanged, and the three left out deactivated.
    status, html = upload(admin, "/admin/focal-points", GOOD_ROSTER, replace=True)
    assert "2 rows: 0 created, 0 updated, 2 unchanged." in html
    assert "3 deactivated (not in the file)." in html
    assert "Deactivated: Ouaka CP (child_protection)" in html
    assert count(desk_app, FocalPoint, FocalPoint.active.is_(True)) == 2


def test_a_roster_file_with_bad_rows_changes_nothing_and_names_each_line(
    desk_app: Flask, admin: FlaskClient
) -> None:
    status, html = upload(admin, "/admin/focal-points", BAD_ROSTER)
    assert status == 422
    assert "Nothing was imported" in html and "The file has 3 problems" in html
    problems = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    assert "Line 3: phone is not in E.164 form" in problems
    assert "Line 4: unknown location p-code(s) &#39;CF999&#39;" in problems
    assert "Line 5: role is empty" in problems
    assert "Line 2" not in problems  # the good row is fine, and not imported either
    assert "0701 000 021" not in html  # a number is never echoed back
    assert count(desk_app, FocalPoint) == 3
    assert "Bria CP" not in html
    assert audit_rows(desk_app, "focal_points_imported") == []

    status, html = upload(admin, "/admin/focal-points", "name;phone\n")
    assert status == 422 and "Line 1: header lacks column(s)" in html
    status, html = upload(admin, "/admin/focal-points", (ROSTER_HEADER + "Zoé,").encode("latin-1"))
    assert status == 422 and "Line 2: is not UTF-8 text (save the file as CSV UTF-8)" in html
    page = admin.get("/admin/focal-points").get_data(as_text=True)
    response = admin.post("/admin/focal-points/import", data={"csrf_token": csrf_of(page)},
                          content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a CSV file to upload." in response.get_data(as_text=True)


def test_deactivating_a_focal_point_deactivates_every_role_of_the_phone(
    desk_app: Flask, admin: FlaskClient
) -> None:
    deployment.add_focal_point(desk_app, "Ouaka CP", deployment.OUAKA_PHONE, ["CF52"],
                               role=Role.CONDUCT)
    with session_scope(desk_app) as db:
        target = db.scalar(select(FocalPoint.id).where(
            FocalPoint.phone == deployment.OUAKA_PHONE, FocalPoint.role == Role.CHILD_PROTECTION))
    status, html = post(admin, f"/admin/focal-points/{target}/deactivate", {},
                        page=admin.get("/admin/focal-points").get_data(as_text=True))
    assert status == 200
    assert "Deactivated: Ouaka CP (child_protection)" in html
    assert "Deactivated: Ouaka CP (conduct)" in html
    with session_scope(desk_app) as db:
        active = {(fp.name, fp.role.value): fp.active for fp in db.scalars(select(FocalPoint))}
    assert active == {("Ouaka CP", "child_protection"): False, ("Ouaka CP", "conduct"): False,
                      ("Ouaka backup", "child_protection"): True,
                      ("National CP", "child_protection"): True}
    ouaka_rows = [row for row in table_rows(html) if row.startswith("Ouaka CP")]
    assert len(ouaka_rows) == 2 and all("Deactivate" not in row for row in ouaka_rows)
    assert "Warning:" in html  # what the roster now leaves uncovered
    [(who, detail)] = audit_rows(desk_app, "focal_point_deactivated")
    assert who == ADMIN and detail["focal_point_id"] == target
    assert detail["deactivated"] == ["Ouaka CP (child_protection)", "Ouaka CP (conduct)"]

    # Again: nothing left to deactivate, nothing recorded.
    _, html = post(admin, f"/admin/focal-points/{target}/deactivate", {}, page=html)
    assert "Ouaka CP was already inactive." in html
    assert len(audit_rows(desk_app, "focal_point_deactivated")) == 1


# Places ------------------------------------------------------------------------------------


def test_places_are_listed_with_their_parents_searched_and_uploaded(
    desk_app: Flask, admin: FlaskClient
) -> None:
    html = admin.get("/admin/places").get_data(as_text=True)
    rows = table_rows(html)
    assert len(rows) == 7
    [bambari] = [row for row in rows if row.startswith("CF521 ")]
    assert bambari == "CF521 Bambari Ouaka (CF52) 2"
    found = table_rows(admin.get("/admin/places?q=CF52").get_data(as_text=True))
    assert [row.split()[0] for row in found] == ["CF52", "CF521", "CF522"]
    assert [row.split()[0] for row in table_rows(
        admin.get("/admin/places?q=bri").get_data(as_text=True))] == ["CF611"]

    status, html = upload(admin, "/admin/places",
                          "pcode,name,parent_pcode\nCF612,Ouadda,CF61\nCF611,Bria town,CF61\n")
    assert status == 200 and "2 rows: 1 created, 1 updated, 0 unchanged." in html
    assert "CF612 Ouadda Haute-Kotto (CF61) 2" in table_rows(html)
    assert audit_rows(desk_app, "places_imported") == [
        (ADMIN, {"created": 1, "updated": 1, "unchanged": 0})]

    status, html = upload(admin, "/admin/places",
                          "pcode,name,parent_pcode\nCF613,Sam Ouandja,CF99\nCF614,,CF61\n"
                          "CF615,Yalinga,CF61\n")
    assert status == 422
    assert "Line 2: unknown parent_pcode &#39;CF99&#39;" in html
    assert "Line 3: name is empty" in html
    assert count(desk_app, Location) == 8  # Yalinga (line 4, good) is not imported either


def test_a_realistic_file_of_a_few_hundred_kilobytes_uploads(
    desk_app: Flask, admin: FlaskClient
) -> None:
    lines = ["pcode,name,parent_pcode"] + [
        f"CF61{number:04d},Village number {number} of the Haute-Kotto prefecture,CF61"
        for number in range(4000)
    ]
    content = "\n".join(lines) + "\n"
    assert len(content) > 250_000
    status, html = upload(admin, "/admin/places", content)
    assert status == 200, html[-2000:]
    assert "4000 rows: 4000 created, 0 updated, 0 unchanged." in html
    assert count(desk_app, Location) == 4007
    assert 'href="/admin/places?page=2"' in html  # 50 to a page


def test_a_file_past_the_upload_limit_is_refused_before_it_is_read(
    desk_app: Flask, admin: FlaskClient
) -> None:
    content = "pcode,name,parent_pcode\n" + "CF6199,x,CF61\n" * 160_000  # over 2 MB
    status, html = upload(admin, "/admin/places", content)
    assert status == 413
    assert "The file is too large: at most 2 MB." in html
    assert count(desk_app, Location) == 7


# Services ----------------------------------------------------------------------------------


def test_services_are_uploaded_listed_searched_and_deactivated(
    desk_app: Flask, admin: FlaskClient
) -> None:
    status, html = upload(admin, "/admin/services", SERVICES)
    assert status == 200 and "2 rows: 2 created, 0 updated, 0 unchanged." in html
    rows = table_rows(html)
    assert rows[0].startswith("Bambari health centre health +23675000001 Bambari (CF521) "
                              "Mon-Fri 8-16 fr, sg yes")

    def found(q: str) -> list[str]:
        page = admin.get("/admin/services", query_string={"q": q}).get_data(as_text=True)
        return [name for row in table_rows(page)
                for name in ("Bambari health centre", "Ouaka legal aid") if row.startswith(name)]

    assert found("legal") == ["Ouaka legal aid"]  # by kind
    assert found("CF521") == ["Bambari health centre"]
    assert found("CF52") == ["Bambari health centre", "Ouaka legal aid"]
    assert found("7500 0002") == ["Ouaka legal aid"]
    assert found("centre") == ["Bambari health centre"]

    with session_scope(desk_app) as db:
        legal = db.scalar(select(Service.id).where(Service.name == "Ouaka legal aid"))
    status, html = post(admin, f"/admin/services/{legal}/deactivate", {},
                        page=admin.get("/admin/services").get_data(as_text=True))
    assert "Deactivated: Ouaka legal aid" in html
    assert count(desk_app, Service, Service.active.is_(True)) == 1
    assert audit_rows(desk_app, "service_deactivated") == [
        (ADMIN, {"service_id": legal, "name": "Ouaka legal aid"})]

    status, html = upload(admin, "/admin/services",
                          "name,kind,phone,locations,hours,languages\nX,bakery,+2367,CF52,,fr\n")
    assert status == 422 and "Line 2: unknown kind &#39;bakery&#39;" in html
    assert count(desk_app, Service) == 2
