"""The case list and a case's page: only what the user's scope holds, filtered, paged, counted;
the reporter's words only to those the flow routed them to; every view in the audit trail."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.cases.references import new_reference
from gateway.storage.crypto import encrypt
from gateway.storage.db import session_scope
from gateway.storage.models import (
    AuditEntry,
    Case,
    CaseKind,
    CaseLink,
    CaseStatus,
    Channel,
    Location,
    utcnow,
)
from tests import deployment
from tests.conftest import StandInAPI
from tests.desk.conftest import UserFactory, login
from tests.test_follow_up import CALLER, report

CP = "cp.ouaka@example.org"
CP_BANGUI = "cp.bangui@example.org"
CONDUCT = "conduct.ouaka@example.org"
COORDINATOR = "coordinator.ouaka@example.org"
ROW_LINK = re.compile(r'<a href="/cases/(\d+)">\1</a>')

CaseMaker = Callable[..., str]


@pytest.fixture
def add_case(desk_app: Flask) -> CaseMaker:
    """Write a routed case straight into the database; its reference."""

    def add(pcode: str, *, kind: CaseKind = CaseKind.ALERT, category: str = "recruitment",
            urgent: bool | None = True, hours_ago: float = 0, acknowledged: bool = False,
            closed: bool = False, stage: int = 0, words: str | None = None) -> str:
        at = utcnow() - timedelta(hours=hours_ago)
        with session_scope(desk_app) as session:
            location = session.scalar(select(Location).where(Location.pcode == pcode))
            assert location is not None, pcode
            case = Case(reference=new_reference(), kind=kind, channel=Channel.SMS,
                        status=CaseStatus.ROUTED, category=category, location=location,
                        urgent=urgent, language="en", created_at=at, routed_at=at,
                        acknowledged_at=at if acknowledged or closed else None,
                        closed_at=at if closed else None, escalation_stage=stage,
                        details=encrypt(words, desk_app) if words else None)
            session.add(case)
            session.commit()
            return case.reference

    return add


def listed(client: FlaskClient, query: str = "") -> list[str]:
    """The references the list shows, in order."""
    response = client.get(f"/cases{query}")
    assert response.status_code == 200
    return ROW_LINK.findall(response.get_data(as_text=True))


def count(html: str, name: str) -> int:
    found = re.search(rf'id="count-{name}"><strong>(\d+)</strong>', html)
    assert found is not None, name
    return int(found.group(1))


def test_a_child_protection_user_of_ouaka_sees_ouaka_alerts_only(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(CONDUCT, "conduct", ["CF52"])
    bambari = add_case("CF521", hours_ago=2)
    ippy = add_case("CF522", hours_ago=1)
    bangui = add_case("CF11")
    complaint = add_case("CF521", kind=CaseKind.COMPLAINT, category="sexual_violence")
    help_request = add_case("CF521", kind=CaseKind.HELP_REQUEST)

    cp = desk_app.test_client()
    login(cp, CP)
    assert listed(cp, "?state=all") == [ippy, bambari]  # newest first
    page = cp.get(f"/cases/{bambari}")
    assert page.status_code == 200 and f"Case {bambari}" in page.get_data(as_text=True)
    missing = cp.get("/cases/1234567")
    assert missing.status_code == 404
    for other in (bangui, complaint, help_request):
        response = cp.get(f"/cases/{other}")
        assert response.status_code == 404, other
        # The very page of a case that does not exist: nothing says it is there.
        assert (response.get_data(as_text=True).replace(other, "REF")
                == missing.get_data(as_text=True).replace("1234567", "REF"))

    conduct = desk_app.test_client()
    login(conduct, CONDUCT)
    assert listed(conduct) == [complaint]
    assert conduct.get(f"/cases/{complaint}").status_code == 200
    assert conduct.get(f"/cases/{bambari}").status_code == 404


def test_an_admin_has_no_case_list(desk_app: Flask, make_user: UserFactory,
                                   add_case: CaseMaker) -> None:
    make_user("admin@example.org", "admin", ["CF"])
    reference = add_case("CF521")
    admin = desk_app.test_client()
    login(admin, "admin@example.org")
    assert admin.get("/cases").status_code == 404
    assert admin.get(f"/cases/{reference}").status_code == 404


def test_each_filter_narrows_the_list(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    fresh = add_case("CF521", category="abduction", urgent=True, hours_ago=1)
    waiting = add_case("CF522", category="recruitment", urgent=False, hours_ago=30)
    escalated = add_case("CF521", category="recruitment", urgent=None, hours_ago=3, stage=1)
    taken = add_case("CF522", category="abduction", urgent=True, hours_ago=4,
                     acknowledged=True)
    closed = add_case("CF521", category="killing", urgent=True, hours_ago=5, closed=True)
    with session_scope(desk_app) as session:
        ids = dict(session.execute(select(Case.reference, Case.id)).all())
        session.add(CaseLink(case_id=ids[fresh], other_case_id=ids[escalated]))
        session.commit()
    client = desk_app.test_client()
    login(client, CP)

    assert listed(client) == [fresh, escalated, taken, waiting]  # default: open
    assert listed(client, "?state=all") == [fresh, escalated, taken, closed, waiting]
    assert listed(client, "?state=unacknowledged") == [fresh, escalated, waiting]
    assert listed(client, "?state=acknowledged") == [taken]
    assert listed(client, "?state=escalated") == [escalated]
    assert listed(client, "?state=closed") == [closed]
    assert listed(client, "?category=abduction") == [fresh, taken]
    assert listed(client, "?place=CF522") == [taken, waiting]
    assert listed(client, "?place=CF52&state=closed") == [closed]  # a place holds those below
    assert listed(client, "?urgency=urgent") == [fresh, taken]
    assert listed(client, "?urgency=not_urgent") == [waiting]
    assert listed(client, "?urgency=unknown") == [escalated]
    assert listed(client, "?waiting=2") == [escalated, waiting]  # open, not acknowledged
    assert listed(client, "?waiting=24") == [waiting]
    assert listed(client, "?duplicates=1") == [fresh]
    assert listed(client, "?category=abduction&urgency=urgent&place=CF521") == [fresh]
    # Anything not understood is left out, never an error.
    assert listed(client, "?state=nonsense&waiting=x&page=-1&category=zz") == listed(client)
    html = client.get("/cases?duplicates=1").get_data(as_text=True)
    assert "Possible duplicate" in html and "30 hours" not in html


def test_pages_of_25_newest_first_with_counts_of_the_whole_scope(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    references = [add_case("CF521", hours_ago=index) for index in range(27)]
    add_case("CF521", hours_ago=50, stage=2)
    add_case("CF521", hours_ago=60, acknowledged=True)
    add_case("CF521", hours_ago=70, closed=True)
    add_case("CF11", stage=1)  # Bangui: not theirs, not counted
    add_case("CF521", kind=CaseKind.COMPLAINT, category="other", stage=1)
    client = desk_app.test_client()
    login(client, CP)

    first = client.get("/cases")
    html = first.get_data(as_text=True)
    assert ROW_LINK.findall(html) == references[:25]
    assert len(first.data) < 60_000  # a full page stays small on a slow link
    assert count(html, "open") == 29
    assert count(html, "unacknowledged") == 28
    assert count(html, "escalated") == 1
    assert ">Next</a>" in html and ">Previous</a>" not in html
    second_url = re.search(r'href="([^"]*page=2[^"]*)"[^>]*>Next</a>', html)
    assert second_url is not None
    second = client.get(second_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ROW_LINK.findall(second)[:2] == references[25:]
    assert ">Previous</a>" in second and ">Next</a>" not in second
    # Filters are kept from page to page.
    filtered = client.get("/cases?state=all&urgency=urgent").get_data(as_text=True)
    assert re.search(r'href="[^"]*state=all[^"]*urgency=urgent[^"]*page=2|'
                     r'href="[^"]*page=2[^"]*state=all', filtered)


def test_the_reporters_words_only_to_those_it_was_routed_to(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(COORDINATOR, "coordinator", ["CF52"])
    words = "Two boys taken near the market this morning"
    reference = add_case("CF521", words=words)
    cp = desk_app.test_client()
    login(cp, CP)
    page = cp.get(f"/cases/{reference}").get_data(as_text=True)
    assert words in page
    for section in ("Details", "Messages", "Possible duplicates", "Notes", "History",
                    "Actions"):
        assert f">{section}</h2>" in page
    assert page.count("<h1") == 1 and '<ol class="timeline">' in page
    coordinator = desk_app.test_client()
    login(coordinator, COORDINATOR)
    page = coordinator.get(f"/cases/{reference}").get_data(as_text=True)
    assert f"Case {reference}" in page and words not in page


def test_a_real_alert_shows_its_sms_by_name_never_the_reporters_number(
    desk_app: Flask, make_user: UserFactory, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    make_user(CP, "child_protection", ["CF52"], focal_point_phone=deployment.OUAKA_PHONE)
    reference = report(desk_app.test_client(), sms_later=True)
    run_jobs(desk_app)
    client = desk_app.test_client()
    login(client, CP)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Bambari, Ouaka, Central African Republic" in page
    assert "Ouaka CP" in page and "Case sent" in page
    acknowledged = client.post(f"/cases/{reference}/acknowledge", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)},  # type: ignore[union-attr]
        follow_redirects=True).get_data(as_text=True)
    assert "Case acknowledged." in acknowledged
    assert "Follow-up SMS to the reporter" in acknowledged and "reporter" in acknowledged
    run_jobs(desk_app)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    for secret in (CALLER, CALLER.lstrip("+"), CALLER[-7:]):
        assert secret not in page
    # Ouaka CP (the desk user's focal point) acknowledged: the history names one person.
    assert re.search(r"<strong>Acknowledged</strong> <span class=\"muted\">by Ouaka CP", page)


def test_every_view_of_a_case_page_is_audited(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    reference = add_case("CF521")
    bangui = add_case("CF11")
    client = desk_app.test_client()
    login(client, CP)
    client.get(f"/cases/{reference}")
    client.get(f"/cases/{reference}")
    client.get(f"/cases/{bangui}")  # not theirs: 404, nothing shown, nothing recorded
    client.get("/cases")
    with session_scope(desk_app) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.case_id.is_not(None))
                               .order_by(AuditEntry.id)).all()
        assert [(row.user_email, row.case_reference, row.action) for row in rows] == [
            (CP, reference, "view"), (CP, reference, "view")]
