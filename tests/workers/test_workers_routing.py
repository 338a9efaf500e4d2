"""Who receives a case, and the routing job that writes one outbox row per recipient."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import event

from gateway.cases.routing import routing_plan
from gateway.storage.db import get_engine, session_scope
from gateway.storage.models import Case, CaseStatus, Gender, Level, OutboxStatus, Role
from tests.conftest import StandInAPI
from tests.workers.factories import (
    add_case,
    add_focal_point,
    add_places,
    case_of,
    outbox,
    run_concurrently,
    work,
)
from workers.routing import route_case


def recipients(app: Flask, case_id: int) -> list[str]:
    with session_scope(app) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return sorted(fp.name for fp in routing_plan(session, case).recipients)


def test_the_most_specific_level_with_a_focal_point_receives_it(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "National", "+23670000001", ["CF"])
    add_focal_point(app, "Ouaka", "+23670000002", ["CF52"])
    add_focal_point(app, "Haute-Kotto", "+23670000003", ["CF61"])
    assert recipients(app, add_case(app, "CF521")) == ["Ouaka"]  # Bambari, in Ouaka
    assert recipients(app, add_case(app, "CF52")) == ["Ouaka"]
    assert recipients(app, add_case(app, "CF611")) == ["Haute-Kotto"]
    add_focal_point(app, "Bambari", "+23670000004", ["CF521"])
    assert recipients(app, add_case(app, "CF521")) == ["Bambari"]
    assert recipients(app, add_case(app, "CF522")) == ["Ouaka"]  # Ippy has nobody of its own
    assert recipients(app, add_case(app, "CD61")) == []  # another country


def test_primaries_only_and_backups_when_no_primary(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka primary", "+23670000001", ["CF52"])
    add_focal_point(app, "Ouaka primary 2", "+23670000002", ["CF52"])
    add_focal_point(app, "Ouaka backup", "+23670000003", ["CF52"], level=Level.BACKUP)
    add_focal_point(app, "Bria backup", "+23670000004", ["CF611"], level=Level.BACKUP)
    add_focal_point(app, "Haute-Kotto primary", "+23670000005", ["CF61"])
    assert recipients(app, add_case(app, "CF521")) == ["Ouaka primary", "Ouaka primary 2"]
    # A backup of the nearer level comes before a primary further up.
    assert recipients(app, add_case(app, "CF611")) == ["Bria backup"]


def test_category_filter_and_star(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Abductions", "+23670000001", ["CF521"], categories=["abduction"])
    add_focal_point(
        app, "Schools", "+23670000002", ["CF521"],
        categories=["attack_on_schools", "attack_on_hospitals"],
    )
    add_focal_point(app, "Everything", "+23670000003", ["CF52"], categories=["*"])
    assert recipients(app, add_case(app, "CF521", category="abduction")) == ["Abductions"]
    assert recipients(app, add_case(app, "CF521", category="attack_on_hospitals")) == ["Schools"]
    # Nobody at Bambari takes recruitment: the level above does.
    assert recipients(app, add_case(app, "CF521", category="recruitment")) == ["Everything"]


def test_inactive_and_other_roles_are_left_out(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Gone", "+23670000001", ["CF521"], active=False)
    add_focal_point(app, "Conduct", "+23670000002", ["CF521"], role=Role.CONDUCT)
    add_focal_point(app, "Ouaka", "+23670000003", ["CF52"])
    assert recipients(app, add_case(app, "CF521")) == ["Ouaka"]


def test_a_case_without_a_place_goes_to_the_top_level(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000001", ["CF52"])
    add_focal_point(app, "National", "+23670000002", ["CF"])
    add_focal_point(app, "National backup", "+23670000003", ["CF"], level=Level.BACKUP)
    assert recipients(app, add_case(app, None)) == ["National"]


def test_girls_and_sexual_violence_reach_a_woman_where_one_covers_the_area(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka man", "+23670000001", ["CF52"], gender=Gender.MALE)
    add_focal_point(
        app, "Ouaka woman", "+23670000002", ["CF52"], gender=Gender.FEMALE, level=Level.BACKUP
    )
    assert recipients(app, add_case(app, "CF521", sex="boys")) == ["Ouaka man"]
    assert recipients(app, add_case(app, "CF521", sex="girls")) == ["Ouaka man", "Ouaka woman"]
    assert recipients(
        app, add_case(app, "CF521", sex="unknown", category="sexual_violence")
    ) == ["Ouaka man", "Ouaka woman"]
    # No woman at all for Haute-Kotto: the man alone.
    add_focal_point(app, "Haute-Kotto man", "+23670000003", ["CF61"], gender=Gender.MALE)
    assert recipients(app, add_case(app, "CF611", sex="girls")) == ["Haute-Kotto man"]


def test_recipients_take_one_query_whatever_the_number_of_focal_points(app: Flask) -> None:
    add_places(app)
    for i in range(30):
        add_focal_point(app, f"FP {i:02d}", f"+236700001{i:02d}", [("CF", "CF52", "CF521")[i % 3]])
    case_id = add_case(app, "CF521")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = get_engine(app)
    with session_scope(app) as session:
        case = session.get(Case, case_id)
        assert case is not None
        _ = case.category, case.location_id
        event.listen(engine, "before_cursor_execute", count)
        try:
            chosen = routing_plan(session, case).recipients
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(chosen) == 10  # those covering Bambari itself
    assert len(statements) <= 2, statements


def test_route_case_writes_one_row_per_recipient_and_sends(
    app: Flask, at_api: StandInAPI
) -> None:
    add_places(app)
    first = add_focal_point(app, "Ouaka 1", "+23670000001", ["CF52"])
    second = add_focal_point(app, "Ouaka 2", "+23670000002", ["CF52"])
    case_id = add_case(app, "CF521")

    with app.app_context():
        route_case(case_id)
        route_case(case_id)  # run twice: nothing more
    work(app)
    with app.app_context():
        route_case(case_id)
    work(app)

    case = case_of(app, case_id)
    assert case.status == CaseStatus.ROUTED and case.routed_at is not None
    rows = outbox(app, case_id)
    assert sorted(row.focal_point_id for row in rows) == [first, second]
    assert all(row.purpose == "case_alert" and row.urgent for row in rows)
    assert all(row.status == OutboxStatus.SENT for row in rows)
    assert sorted(m["form"]["to"] for m in at_api.messages) == ["+23670000001", "+23670000002"]
    routed = [e for e in case.events if e.kind == "routed"]
    assert len(routed) == 1
    assert sorted(routed[0].detail["focal_point_ids"]) == [first, second]


def test_route_case_run_concurrently_routes_once(app: Flask, at_api: StandInAPI) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000001", ["CF52"])
    case_id = add_case(app, "CF521")
    run_concurrently(app, route_case, case_id)
    assert len(outbox(app, case_id)) == 1
    work(app)
    assert len(at_api.messages) == 1


def test_nobody_covers_it_unassigned_with_an_event(
    app: Flask, at_api: StandInAPI, caplog: object
) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000001", ["CF52"], categories=["abduction"])
    case_id = add_case(app, "CF521", category="recruitment")
    with app.app_context():
        route_case(case_id)
    work(app)
    case = case_of(app, case_id)
    assert case.status == CaseStatus.UNASSIGNED
    assert case.routed_at is not None
    assert [e.kind for e in case.events if e.kind != "created"] == ["routed", "no_recipient"]
    assert outbox(app, case_id) == []
    assert at_api.messages == []
    assert "unassigned" in caplog.text  # type: ignore[attr-defined]


def test_a_missing_or_routed_case_is_left_alone(app: Flask) -> None:
    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000001", ["CF52"])
    routed = add_case(app, "CF521", status=CaseStatus.ROUTED)
    with app.app_context():
        route_case(987654)
        route_case(routed)
    assert outbox(app) == []


def test_routing_by_the_worker_after_enqueue(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., int]
) -> None:
    from workers.enqueue import enqueue_route

    add_places(app)
    add_focal_point(app, "Ouaka", "+23670000001", ["CF52"])
    case_id = add_case(app, "CF521", urgent=False)
    assert enqueue_route(app, case_id, False)
    run_jobs()
    assert case_of(app, case_id).status == CaseStatus.ROUTED
    [sms] = at_api.messages
    assert "URGENT" not in sms["form"]["message"]
