"""The trends page: coordinators and admins only, their own places, small cells hidden, a chart
drawn as SVG without script or inline style, acknowledgement times and the areas with no woman."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from flask import Flask

from gateway.storage.models import CaseKind, utcnow
from tests import deployment
from tests.desk.conftest import UserFactory, login
from tests.trends.test_trends import add_case

COORDINATOR = "coordinator.ouaka@example.org"
NATIONAL = "coordinator@example.org"
ROW = re.compile(r"<tr><th scope=\"row\">(.*?)</th>((?:<td>.*?</td>)+)</tr>")
CELL = re.compile(r"<td>(.*?)</td>")


def table(page: str, table_id: str) -> list[list[str]]:
    """The rows of a table of the page: its row header, then its cells, as text."""
    found = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', page, re.DOTALL)
    if found is None:
        return []
    return [[html.unescape(row.group(1)), *(html.unescape(c) for c in CELL.findall(row.group(2)))]
            for row in ROW.finditer(found.group(1))]


def month() -> str:
    return (utcnow() - timedelta(hours=1)).strftime("%Y-%m")


def alerts(app: Flask) -> None:
    """Bambari 6, Ippy 1 (Ouaka); Bria 6 (Haute-Kotto); Bangui 2; 1 with no place; complaints."""
    created = utcnow() - timedelta(hours=1)
    for minutes in (10, 20, 30, 40, 50, 60):
        add_case(app, "CF521", created_at=created, girls="1", boys="0",
                 acknowledged_after=timedelta(minutes=minutes))
    add_case(app, "CF522", created_at=created, acknowledged_after=timedelta(minutes=5))
    for _ in range(6):
        add_case(app, "CF611", created_at=created, girls="0", boys="2-3")
    for _ in range(2):
        add_case(app, "CF11", created_at=created)
    add_case(app, None, created_at=created)
    for _ in range(8):
        add_case(app, "CF521", kind=CaseKind.COMPLAINT, category="sexual_violence",
                 created_at=created)


def test_a_coordinator_of_ouaka_sees_only_ouaka_s_places(
    desk_app: Flask, make_user: UserFactory,
) -> None:
    alerts(desk_app)
    make_user(COORDINATOR, "coordinator", ["CF52"])
    client = desk_app.test_client()
    login(client, COORDINATOR)
    response = client.get("/trends?level=2")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert table(page, "trends-table") == [
        ["Bambari", "CF521", "Recruitment or use", month(), "6", "6", "0", "0"],
        ["Ippy", "CF522", "Recruitment or use", month(), "<5", "<5", "0", "0"],
    ]
    for elsewhere in ("Bria", "Bangui", "Haute-Kotto", "CF611", "Not known", "Sexual violence"):
        assert elsewhere not in page
    # Bambari: 10 to 60 minutes; Ippy: one, too few to say.
    assert table(page, "timing-table") == [
        ["Bambari", "Recruitment or use", "35 min", "1 h 00 min"],
        ["Ippy", "Recruitment or use", "<5", "<5"],
    ]
    assert "A woman focal point covers every area." in page  # the two women of Ouaka
    level1 = client.get("/trends?level=1").get_data(as_text=True)
    assert table(level1, "trends-table") == [
        ["Ouaka", "CF52", "Recruitment or use", month(), "7", "7", "0", "0"],
    ]


def test_a_national_coordinator_sees_every_place_and_the_areas_with_no_woman(
    desk_app: Flask, make_user: UserFactory,
) -> None:
    alerts(desk_app)
    make_user(NATIONAL, "coordinator", ["CF"])
    client = desk_app.test_client()
    login(client, NATIONAL)
    page = client.get("/trends?level=1&period=3").get_data(as_text=True)
    assert table(page, "trends-table") == [
        ["Bangui", "CF11", "Recruitment or use", month(), "<5", "<5", "0", "0"],
        ["Ouaka", "CF52", "Recruitment or use", month(), "7", "7", "0", "0"],
        ["Haute-Kotto", "CF61", "Recruitment or use", month(), "6", "0", "12", "0"],
        ["Not known", "", "Recruitment or use", month(), "<5", "<5", "0", "0"],
    ]
    bare = re.search(r'<ul id="bare-areas">(.*?)</ul>', page, re.DOTALL)
    assert bare is not None
    assert re.findall(r"<li>(.*?)</li>", bare.group(1)) == ["Bangui (CF11)",
                                                            "Haute-Kotto (CF61)"]
    deployment.add_focal_point(desk_app, "Bria CP", "+23670000401", ["CF61"])
    page = client.get("/trends?level=1").get_data(as_text=True)
    assert "Haute-Kotto (CF61)" not in page and "Bangui (CF11)" in page


def test_the_chart_is_inline_svg_of_the_cells_shown_without_script_or_style(
    desk_app: Flask, make_user: UserFactory,
) -> None:
    alerts(desk_app)
    make_user(COORDINATOR, "coordinator", ["CF52"])
    client = desk_app.test_client()
    login(client, COORDINATOR)
    response = client.get("/trends?level=2")
    page = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    svg = re.search(r'<svg[^>]*id="trends-chart".*?</svg>', page, re.DOTALL)
    assert svg is not None and 'role="img"' in svg.group(0)
    # One bar: the month's cells shown (Bambari's 6); Ippy's hidden cell is left out.
    assert re.findall(r"<title>(\d{4}-\d{2}): (\d+)</title>", svg.group(0)) == [(month(), "6")]
    assert len(re.findall(r"<rect ", svg.group(0))) == 1
    assert "<script" not in page and "style=" not in page
    assert re.findall(r"https?://[^\"]+", page) == ["http://www.w3.org/2000/svg"]  # no CDN
    assert page.count("<h1>") == 1
    assert re.findall(r'<label for="(t-[a-z]+)">', page) == ["t-level", "t-period"]
    assert 'id="t-level"' in page and 'id="t-period"' in page


def test_only_coordinators_and_admins_open_it(desk_app: Flask, make_user: UserFactory) -> None:
    alerts(desk_app)
    client = desk_app.test_client()
    response = client.get("/trends")
    assert response.status_code == 302 and response.location.startswith("/login")
    for email, role in (("cp@example.org", "child_protection"), ("conduct@example.org", "conduct"),
                        ("triage@example.org", "triage"), ("services@example.org", "services")):
        make_user(email, role, ["CF"])
        other = desk_app.test_client()
        login(other, email)
        assert other.get("/trends").status_code == 404, role
    make_user("admin@example.org", "admin", ["CF52"])
    admin = desk_app.test_client()
    login(admin, "admin@example.org")
    page = admin.get("/trends?level=9&period=nonsense").get_data(as_text=True)
    assert table(page, "trends-table") == [  # level 1 and the last 12 months, as by default
        ["Ouaka", "CF52", "Recruitment or use", month(), "7", "7", "0", "0"],
    ]


def test_a_user_of_part_of_an_area_sees_their_place_and_their_categories(
    desk_app: Flask, make_user: UserFactory,
) -> None:
    alerts(desk_app)
    for _ in range(5):
        add_case(desk_app, "CF521", category="abduction", created_at=utcnow() - timedelta(hours=1))
    make_user("bambari@example.org", "coordinator", ["CF521"])
    make_user("abduction@example.org", "coordinator", ["CF52"], categories=["abduction"])
    client = desk_app.test_client()
    login(client, "bambari@example.org")
    page = client.get("/trends?level=1").get_data(as_text=True)
    # Bambari only: not a row named Ouaka that would count only part of Ouaka.
    assert [row[:3] for row in table(page, "trends-table")] == [
        ["Bambari", "CF521", "Abduction"], ["Bambari", "CF521", "Recruitment or use"],
    ]
    other = desk_app.test_client()
    login(other, "abduction@example.org")
    page = other.get("/trends?level=1").get_data(as_text=True)
    assert [row[:5] for row in table(page, "trends-table")] == [
        ["Ouaka", "CF52", "Abduction", month(), "5"],
    ]
