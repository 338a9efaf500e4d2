"""Duplicates (issue 13): one incident, many reports, and never a late or lost alert.

Reports are made through the function every channel's submit uses to turn answers into a case
(`create_case`), then routed and sent by a real worker to the local stand-in of the provider.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from flows import Submission
from flows.gsm import sms_segments
from gateway.cases import links, messages
from gateway.cases.intake import create_case, source_key
from gateway.cases.messages import NEUTRAL_REPLY
from gateway.commands import cases as cases_commands
from gateway.conversation import get_catalogs
from gateway.storage.db import session_scope
from gateway.storage.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseLink,
    CaseStatus,
    Channel,
    FocalPoint,
    LinkKind,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from tests import deployment
from tests.conftest import AT_API_KEY, AT_USERNAME, TEST_SECRET, StandInAPI
from tests.test_complaints import ASSISTANCE_PHONE, CONDUCT_PHONE, to, with_conduct
from tests.test_sms import Phone
from workers.enqueue import enqueue_route

SAME_CONFIRM = re.compile(r"Reply SAME (\d{6,8}) (\d{6,8}) (\d{4}) to confirm\.")
BAMBARI, IPPY, BRIA = "CF521", "CF522", "CF611"


def file_report(app: Flask, flow: str = "alert", pseudonym: str = "", **answers: str | None
                ) -> str:
    """Make a case from a finished flow's answers, queue its routing; return its reference."""
    submission = Submission(flow=flow, language="en", answers=dict(answers))
    with session_scope(app) as session:
        case, created = create_case(
            session, submission, pseudonym=pseudonym or uuid.uuid4().hex, channel=Channel.USSD,
            key=source_key(Channel.USSD, uuid.uuid4().hex),
        )
        assert created
        enqueue_route(app, case.id, case.is_urgent)
        return case.reference


def alert(app: Flask, category: str = "recruitment", location: str | None = BAMBARI,
          pseudonym: str = "") -> str:
    """Report an alert (2-3 girls, in danger now) as the USSD and SMS flows submit it."""
    return file_report(app, pseudonym=pseudonym, category=category, location=location,
                       children="2-3", sex="girls", urgent="yes", callback="no")


def complaint(app: Flask, help_now: str = "no") -> str:
    """Report a complaint of sexual abuse by a peacekeeper in Bambari."""
    return file_report(app, "complaint", what="sexual_exploitation_abuse", who="un",
                       location=BAMBARI, when="today", child="yes", help_now=help_now,
                       callback="no")


def age(app: Flask, hours: float) -> None:
    """Make every case so far older by `hours`."""
    with session_scope(app) as session:
        for case in session.scalars(select(Case)):
            case.created_at = case.created_at - timedelta(hours=hours)
        session.commit()


def links_of(app: Flask) -> list[tuple[str, str, LinkKind, int | None]]:
    """Every link: (later reference, earlier reference, kind, confirmed by)."""
    with session_scope(app) as session:
        by_id = dict(session.execute(select(Case.id, Case.reference)).all())
        return [(by_id[link.case_id], by_id[link.other_case_id], link.kind, link.confirmed_by)
                for link in session.scalars(select(CaseLink).order_by(CaseLink.id))]


def sms_about(at_api: StandInAPI, number: str, reference: str) -> str:
    """The one SMS that reached a number about a case."""
    [sms] = [text for text in to(at_api, number) if re.search(rf"\b{reference}:", text)]
    return sms


def outbox_of(app: Flask, reference: str) -> list[OutboxStatus]:
    with session_scope(app) as session:
        return list(session.scalars(select(OutboxMessage.status).join(Case).where(
            Case.reference == reference)))


def focal_phone(client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
                number: str) -> Phone:
    """A focal point's phone, past the SMS it already received."""
    phone = Phone(client, at_api, run_jobs, number=number)
    phone.seen = len(to(at_api, number))
    return phone


def fp_id(app: Flask, number: str) -> int:
    with session_scope(app) as session:
        found = session.scalar(select(FocalPoint.id).where(FocalPoint.phone == number))
        assert found is not None
        return found


@pytest.fixture
def gateway_cli(schema: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """The cases commands, their settings pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", schema)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    return click.Group("gateway", commands=cases_commands.COMMANDS)


def show(group: click.Group, reference: str, *role: str) -> str:
    result = CliRunner().invoke(group, ["cases", "show", reference, *role])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_second_alert_of_the_same_category_and_place_says_maybe_same_and_is_sent(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    first = alert(app)
    run_jobs()
    age(app, 47)  # within 48 hours
    second = alert(app)
    run_jobs()
    earlier = sms_about(at_api, deployment.OUAKA_PHONE, first)
    assert "same as" not in earlier.lower()
    later = sms_about(at_api, deployment.OUAKA_PHONE, second)
    assert later.startswith(f"URGENT child alert {second}: recruitment")
    assert later.endswith(f"Maybe same as {first}."), later
    assert sms_segments(later) == 1  # the shorter place name makes room for the reference
    # Sent like any alert, to every focal point it is routed to: nothing waits for the link.
    assert outbox_of(app, second) == [OutboxStatus.SENT]
    assert links_of(app) == [(second, first, LinkKind.POSSIBLE, None)]


def test_no_link_across_places_categories_kinds_or_beyond_48_hours(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    first = alert(app)
    run_jobs()
    others = [alert(app, location=IPPY), alert(app, category="killing"),
              alert(app, location=None), alert(app, location=None)]
    run_jobs()
    age(app, 49)
    late = alert(app)
    run_jobs()
    assert links_of(app) == []
    for reference in (first, *others, late):
        assert outbox_of(app, reference), reference
        assert all(status == OutboxStatus.SENT for status in outbox_of(app, reference))
    assert not any("same as" in m["form"]["message"].lower() for m in at_api.messages)


def test_same_from_a_focal_point_who_received_both_confirms_and_cases_show_lists_it(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None],
    gateway_cli: click.Group,
) -> None:
    deployment.standard(app)
    first = alert(app)
    run_jobs()
    second = alert(app)
    run_jobs()
    shown = show(gateway_cli, second)
    assert f"  {second} possible duplicate of {first}, found " in shown
    ouaka = focal_phone(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    asked = ouaka.send(f"SAME {first} {second}")
    found = SAME_CONFIRM.fullmatch(asked)
    assert found, asked
    assert links_of(app)[0][2] == LinkKind.POSSIBLE  # nothing changes before the code
    assert ouaka.send(f"SAME {first} {second} {found.group(3)}") == (
        f"Case {second}: same incident as {first}.")
    ouaka_id = fp_id(app, deployment.OUAKA_PHONE)
    assert links_of(app) == [(second, first, LinkKind.CONFIRMED, ouaka_id)]
    with session_scope(app) as session:
        events = session.execute(select(Case.reference, CaseEvent.detail).join(Case).where(
            CaseEvent.kind == CaseEventKind.LINKED)).all()
    assert sorted(events) == sorted([
        (second, {"by": f"focal_point:{ouaka_id}", "duplicate_of": first}),
        (first, {"by": f"focal_point:{ouaka_id}", "duplicate": second}),
    ])
    for reference in (first, second):
        shown = show(gateway_cli, reference)
        assert f"  {second} confirmed duplicate of {first}, found " in shown
        assert f"confirmed by focal_point:{ouaka_id} at " in shown
        assert " linked by=focal_point:" in shown
        assert deployment.OUAKA_PHONE.lstrip("+") not in shown
    # Both stay open, and the later case's SMS now says it is the same.
    assert ouaka.send(f"INFO {second}").endswith(f"Same as {first}.")
    with session_scope(app) as session:
        assert all(case.closed_at is None for case in session.scalars(select(Case)))


def test_same_from_anyone_who_did_not_receive_both_is_refused_without_a_word_more(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    deployment.standard(app)
    in_ouaka = alert(app)
    in_bria = alert(app, location=BRIA)  # nobody covers Haute-Kotto: the national focal point
    run_jobs()
    ouaka = focal_phone(client, at_api, run_jobs, deployment.OUAKA_PHONE)
    national = focal_phone(client, at_api, run_jobs, deployment.NATIONAL_PHONE)
    assert to(at_api, deployment.NATIONAL_PHONE) and not ouaka.inbox()
    answer = ouaka.send(f"SAME {in_ouaka} {in_bria}")
    assert answer == f"No action for {in_ouaka} {in_bria}."
    # The same words as for a case that does not exist, or a code never asked for.
    assert ouaka.send(f"SAME {in_ouaka} 1234567") == f"No action for {in_ouaka} 1234567."
    neutral = get_catalogs(app).gettext("fr", NEUTRAL_REPLY, reference=f"{in_bria} {in_ouaka}")
    assert national.send(f"SAME {in_bria} {in_ouaka} 1234") == neutral  # in French: theirs
    assert links_of(app) == []
    with session_scope(app) as session:
        refused = session.scalars(select(CaseEvent.detail).where(
            CaseEvent.kind == CaseEventKind.UNAUTHORISED_COMMAND)).all()
    assert refused and all(detail["command"] == "same" for detail in refused)


def test_a_complaint_is_never_linked_to_an_alert_and_its_reference_stays_with_conduct(
    app: Flask, client: FlaskClient, at_api: StandInAPI, run_jobs: Callable[..., None]
) -> None:
    with_conduct(app)
    violence = alert(app, category="sexual_violence")
    run_jobs()
    first = complaint(app)
    run_jobs()
    assert links_of(app) == []  # same category, same place, but a complaint is not an alert
    second = complaint(app, help_now="health")
    run_jobs()
    assert links_of(app) == [(second, first, LinkKind.POSSIBLE, None)]
    conduct = sms_about(at_api, CONDUCT_PHONE, second)
    assert f"Maybe same as {first}." in conduct
    # Victim assistance and child protection never read a complaint's reference.
    assistance = [sms for sms in to(at_api, ASSISTANCE_PHONE) if second in sms]
    assert assistance and all(first not in sms for sms in assistance)
    for number in (deployment.OUAKA_PHONE, deployment.OUAKA_BACKUP_PHONE,
                   deployment.NATIONAL_PHONE):
        assert all(first not in sms and second not in sms for sms in to(at_api, number))
    # Nobody received both an alert and a complaint; conduct may not tie them either.
    phone = focal_phone(client, at_api, run_jobs, CONDUCT_PHONE)
    assert phone.send(f"SAME {first} {violence}") == f"No action for {first} {violence}."
    assert len(links_of(app)) == 1


def _bad_link(session: object, case: Case) -> CaseLink:
    """A link whose insert fails: it names a case that does not exist."""
    link = CaseLink(case_id=case.id, other_case_id=case.id + 10_000_000)
    session.add(link)  # type: ignore[attr-defined]
    return link


def _broken(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("linking is broken")


@pytest.mark.parametrize("failure", ["insert", "bug"])
def test_an_alert_goes_out_whatever_happens_to_its_link(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch, failure: str,
) -> None:
    deployment.standard(app)
    alert(app)
    run_jobs()
    monkeypatch.setattr(links, "link_possible", _bad_link if failure == "insert" else _broken)
    second = alert(app)
    run_jobs()
    assert links_of(app) == []
    later = sms_about(at_api, deployment.OUAKA_PHONE, second)
    assert "same as" not in later.lower()
    assert outbox_of(app, second) == [OutboxStatus.SENT]
    with session_scope(app) as session:
        case = session.scalar(select(Case).where(Case.reference == second))
        assert case is not None and case.status == CaseStatus.ROUTED
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id))
        assert CaseEventKind.ROUTED in set(kinds)


def test_an_alert_goes_out_when_its_link_cannot_be_read(
    app: Flask, at_api: StandInAPI, run_jobs: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment.standard(app)
    first = alert(app)
    run_jobs()
    monkeypatch.setattr(messages, "same_as", _broken)
    second = alert(app)
    run_jobs()
    assert links_of(app)[0][:2] == (second, first)  # linked, but the SMS cannot say so
    later = sms_about(at_api, deployment.OUAKA_PHONE, second)
    assert later.startswith(f"URGENT child alert {second}") and "same as" not in later.lower()
    assert outbox_of(app, second) == [OutboxStatus.SENT]


def test_a_link_is_only_ever_to_an_earlier_case(app: Flask) -> None:
    deployment.standard(app)
    first, second = alert(app), alert(app)
    with session_scope(app) as session:
        one = session.scalar(select(Case).where(Case.reference == first))
        two = session.scalar(select(Case).where(Case.reference == second))
        assert one is not None and two is not None
        session.execute(update(Case).values(created_at=utcnow()))
        session.refresh(one)
        session.refresh(two)
        # The same instant: the lower id is the earlier one, never both ways.
        assert links.earlier_match(session, one) is None
        match = links.earlier_match(session, two)
        assert match is not None and match.id == one.id


def test_a_case_held_back_in_a_flood_is_never_named_as_the_earlier_one(
    make_app: Callable[..., Flask], at_api: StandInAPI, run_jobs: Callable[..., None],
) -> None:
    app = make_app(AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY, AT_API_URL=at_api.url,
                   FLOOD_CASES_PER_HOUR=1)
    deployment.standard(app)
    paged = alert(app, pseudonym="flood")
    run_jobs(app)
    held = [alert(app, pseudonym="flood") for _ in range(2)]  # a summary, then nothing
    run_jobs(app)
    other = alert(app)
    run_jobs(app)
    assert (other, paged, LinkKind.POSSIBLE, None) in links_of(app)
    assert all(link[1] not in held for link in links_of(app))
    assert sms_about(at_api, deployment.OUAKA_PHONE, other).endswith(f"Maybe same as {paged}.")
