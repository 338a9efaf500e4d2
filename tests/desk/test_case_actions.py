"""The actions on a case's page: each changes the case, adds an event saying who and when, and
an audit row; what makes no sense is refused and changes nothing; complaints keep their rules."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.storage.db import session_scope
from gateway.storage.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseNote,
    FocalPoint,
    Outcome,
    Role,
    User,
    Verification,
)
from tests import deployment
from tests.desk.conftest import UserFactory, csrf_of, login
from tests.desk.test_cases import CP, CaseMaker, add_case  # noqa: F401 - a fixture
from tests.test_complaints import ASSISTANCE_PHONE, CONDUCT_PHONE, COORDINATOR_PHONE, complain
from tests.test_ussd import reference_in

BANGUI = "cp.bangui@example.org"
COORDINATOR = "coordinator.ouaka@example.org"


def add_conduct(app: Flask) -> None:
    """Conduct (Ouaka), victim assistance (national) and a coordinator, as in test_complaints."""
    deployment.add_focal_point(app, name="Conduct Ouaka", phone=CONDUCT_PHONE, pcodes=["CF52"],
                               role=Role.CONDUCT)
    deployment.add_focal_point(app, name="Victim assistance", phone=ASSISTANCE_PHONE,
                               pcodes=["CF"], role=Role.ASSISTANCE)
    deployment.add_focal_point(app, name="Coordinator Ouaka", phone=COORDINATOR_PHONE,
                               pcodes=["CF52"], role=Role.COORDINATOR)


def act(client: FlaskClient, reference: str, action: str, **data: str) -> str:
    """Send an action's form from the case page as a browser would; the page it lands on."""
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    response = client.post(f"/cases/{reference}/{action}",
                           data={**data, "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cases/{reference}")
    return client.get(response.headers["Location"]).get_data(as_text=True)


def case_of(app: Flask, reference: str) -> Case:
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.expunge(case)
        return case


def events(app: Flask, reference: str) -> list[tuple[str, dict]]:
    with session_scope(app) as session:
        rows = session.execute(select(CaseEvent.kind, CaseEvent.detail).join(Case).where(
            Case.reference == reference).order_by(CaseEvent.id)).all()
        return [(str(kind), detail) for kind, detail in rows]


def audited(app: Flask, reference: str) -> list[tuple[str, str, dict]]:
    with session_scope(app) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.case_reference == reference)
                               .order_by(AuditEntry.id))
        return [(row.user_email, row.action, row.detail) for row in rows if row.action != "view"]


def ids(app: Flask) -> dict[str, int]:
    """Focal point ids by phone, user ids by e-mail."""
    with session_scope(app) as session:
        found = dict(session.execute(select(FocalPoint.phone, FocalPoint.id)).all())
        found.update(session.execute(select(User.email, User.id)).all())
        return found


def test_each_action_changes_the_case_with_an_event_and_an_audit_row(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker  # noqa: F811
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(COORDINATOR, "coordinator", ["CF52"])
    reference = add_case("CF521")
    known = ids(desk_app)
    me = f"user:{known[CP]}"
    client = desk_app.test_client()
    login(client, CP)

    page = act(client, reference, "acknowledge")
    assert "Case acknowledged." in page
    assert case_of(desk_app, reference).acknowledged_at is not None
    assert ">Acknowledge</button>" not in page
    assert "Acknowledged</strong> <span class=\"muted\">by cp.ouaka@example.org" in page

    note = "Met the family; a partner follows up."
    page = act(client, reference, "note", note=note)
    assert "Note added." in page and note in page
    with session_scope(desk_app) as session:
        [stored] = session.scalars(select(CaseNote)).all()
        assert note not in stored.body and stored.user_id == known[CP]  # encrypted at rest

    page = act(client, reference, "verify", verification="verified")
    assert "Verification saved." in page
    assert case_of(desk_app, reference).verification == Verification.VERIFIED

    backup = known[deployment.OUAKA_BACKUP_PHONE]
    page = act(client, reference, "assign", assignee=f"fp:{backup}")
    assert "Case assigned." in page and "Ouaka backup" in page
    assert case_of(desk_app, reference).assigned_focal_point_id == backup
    page = act(client, reference, "assign", assignee=f"user:{known[COORDINATOR]}")
    assert case_of(desk_app, reference).assigned_user_id == known[COORDINATOR]

    page = act(client, reference, "close", outcome="referred", duplicate_of="")
    closed = case_of(desk_app, reference)
    assert "Case closed." in page and closed.closed_at is not None
    assert closed.outcome == Outcome.REFERRED and "Referred to a service" in page
    assert ">Close case</button>" not in page and ">Reopen</button>" in page

    page = act(client, reference, "reopen")
    reopened = case_of(desk_app, reference)
    assert "Case reopened." in page and reopened.closed_at is None and reopened.outcome is None
    assert reopened.acknowledged_at is not None  # still followed up: nothing escalates

    assert [(kind, detail) for kind, detail in events(desk_app, reference)] == [
        ("acknowledged", {"by": me}),
        ("note_added", {"by": me}),  # never the note's words
        ("verification_set", {"by": me, "verification": "verified", "previous": "unverified"}),
        ("assigned", {"by": me, "to": f"focal_point:{backup}"}),
        ("assigned", {"by": me, "to": f"user:{known[COORDINATOR]}"}),
        ("closed", {"by": me, "outcome": "referred"}),
        ("reopened", {"by": me, "previous_outcome": "referred"}),
    ]
    assert audited(desk_app, reference) == [
        (CP, action, {"changed": True})
        for action in ("acknowledge", "note", "verify", "assign", "assign", "close", "reopen")
    ]


def test_what_makes_no_sense_is_refused_and_changes_nothing(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker  # noqa: F811
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    make_user(BANGUI, "child_protection", ["CF11"])
    bria = deployment.add_focal_point(desk_app, name="Bria CP", phone="+23670000061",
                                      pcodes=["CF611"])
    reference = add_case("CF521")
    earlier = add_case("CF521", hours_ago=3)
    bangui = add_case("CF11")
    known = ids(desk_app)
    client = desk_app.test_client()
    login(client, CP)

    refusals = [
        ("reopen", {}, "This case is open: there is nothing to reopen."),
        ("note", {"note": "   "}, "Write something before adding a note."),
        ("verify", {"verification": "unverified"}, "Nothing changed."),
        ("verify", {"verification": "maybe"}, "Choose one of the options."),
        ("close", {"outcome": "finished"}, "Choose one of the options."),
        ("close", {"outcome": "duplicate", "duplicate_of": ""}, "Give the reference"),
        ("close", {"outcome": "duplicate", "duplicate_of": bangui}, "Give the reference"),
        ("close", {"outcome": "duplicate", "duplicate_of": "1234567"}, "Give the reference"),
        ("close", {"outcome": "duplicate", "duplicate_of": reference}, "Give the reference"),
        ("assign", {"assignee": f"fp:{bria}"}, "Choose someone of this case"),
        ("assign", {"assignee": f"user:{known[BANGUI]}"}, "Choose someone of this case"),
        ("assign", {"assignee": "nobody"}, "Choose who takes the case."),
    ]
    for action, data, words in refusals:
        page = act(client, reference, action, **data)
        assert f'<p class="flash error">{words}' in page, (action, data)
    case = case_of(desk_app, reference)
    assert case.closed_at is None and case.acknowledged_at is None
    assert case.assigned_focal_point_id is None and case.assigned_user_id is None
    assert [kind for kind, _detail in events(desk_app, reference)] == []
    with session_scope(desk_app) as session:
        assert session.scalar(select(func.count(CaseNote.id))) == 0
    # Each refused try is in the audit trail, marked so.
    assert [detail.get("refused") for _who, _action, detail in audited(desk_app, reference)] \
        == ["not_closed", "empty_note", "unchanged", "bad_choice", "bad_choice"] \
        + ["duplicate_of_missing"] * 4 + ["assignee_not_allowed"] * 2 + ["assignee_missing"]

    page = act(client, reference, "close", outcome="duplicate", duplicate_of=earlier)
    assert "Case closed." in page and f"Duplicate of a case {earlier}" in page
    closed = case_of(desk_app, reference)
    assert closed.outcome == Outcome.DUPLICATE and closed.duplicate_of_id is not None
    # Closing acknowledged it first: the one path that ends the escalation.
    assert [kind for kind, _detail in events(desk_app, reference)] == ["acknowledged", "closed"]
    page = act(client, reference, "close", outcome="referred")
    assert '<p class="flash error">This case is already closed.' in page
    assert case_of(desk_app, reference).outcome == Outcome.DUPLICATE


def test_a_post_without_the_token_is_refused(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker  # noqa: F811
) -> None:
    make_user(CP, "child_protection", ["CF52"])
    reference = add_case("CF521")
    client = desk_app.test_client()
    login(client, CP)
    assert client.post(f"/cases/{reference}/acknowledge").status_code == 400
    assert client.post(f"/cases/{reference}/close", data={
        "outcome": "other", "csrf_token": "forged"}).status_code == 400
    assert case_of(desk_app, reference).acknowledged_at is None


def test_on_a_complaint_only_conduct_closes_and_assistance_acknowledges_and_notes(
    desk_app: Flask, make_user: UserFactory, run_jobs: Callable[..., None]
) -> None:
    add_conduct(desk_app)
    make_user("conduct@example.org", "conduct", ["CF52"])
    make_user("assistance@example.org", "assistance", ["CF"],
              focal_point_phone=ASSISTANCE_PHONE)
    reference = reference_in(complain(desk_app.test_client()))
    run_jobs(desk_app)
    assistance = desk_app.test_client()
    login(assistance, "assistance@example.org")
    page = assistance.get(f"/cases/{reference}").get_data(as_text=True)
    assert ">Acknowledge</button>" in page and ">Add note</button>" in page
    for button in ("Close case", "Save verification", "Assign", "Reopen"):
        assert f">{button}</button>" not in page
    page = act(assistance, reference, "close", outcome="other")
    assert "Your role may not do this on this case." in page
    page = act(assistance, reference, "verify", verification="verified")
    assert "Your role may not do this on this case." in page
    page = act(assistance, reference, "acknowledge")
    assert "Case acknowledged." in page
    # Victim assistance took it; conduct has not: its escalation goes on.
    case = case_of(desk_app, reference)
    assert case.acknowledged_at is None and case.closed_at is None
    assert "the escalation goes on until conduct acknowledges" in page
    page = act(assistance, reference, "acknowledge")
    assert "This case was already acknowledged." in page
    page = act(assistance, reference, "note", note="Health centre visit arranged.")
    assert "Health centre visit arranged." in page

    conduct = desk_app.test_client()
    login(conduct, "conduct@example.org")
    page = act(conduct, reference, "close", outcome="task_force")
    assert "Case closed." in page
    case = case_of(desk_app, reference)
    assert case.acknowledged_at is not None and case.outcome == Outcome.TASK_FORCE
    assistance_fp = ids(desk_app)[ASSISTANCE_PHONE]
    acknowledged = [detail for kind, detail in events(desk_app, reference)
                    if kind == CaseEventKind.ACKNOWLEDGED]
    assert acknowledged[0]["by"] == f"focal_point:{assistance_fp}"
    assert acknowledged[0]["role"] == Role.ASSISTANCE and not acknowledged[0]["stops_escalation"]
    assert len(acknowledged) == 2  # assistance's once, then conduct's (closing)


def test_a_user_linked_to_a_focal_point_acts_as_that_one_person(
    desk_app: Flask, make_user: UserFactory, add_case: CaseMaker  # noqa: F811
) -> None:
    make_user(CP, "child_protection", ["CF52"], focal_point_phone=deployment.OUAKA_PHONE)
    reference = add_case("CF521")
    known = ids(desk_app)
    client = desk_app.test_client()
    login(client, CP)
    page = act(client, reference, "acknowledge")
    assert f"by Ouaka CP (desk: {CP})" in page
    act(client, reference, "note", note="Called the school.")
    assert events(desk_app, reference) == [
        ("acknowledged", {"by": f"focal_point:{known[deployment.OUAKA_PHONE]}",
                          "user": known[CP]}),
        ("note_added", {"by": f"focal_point:{known[deployment.OUAKA_PHONE]}", "user": known[CP]}),
    ]
