"""Locations and focal points from CSV files: all or nothing, updated in place, never doubled."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from gateway.directory.imports import (
    Deactivated,
    ImportFailed,
    ImportReport,
    deactivate_phone,
    import_focal_points,
    import_locations,
    normalise_phone,
    roster_warnings,
)
from gateway.storage.db import session_scope
from gateway.storage.models import FocalPoint, FocalPointLocation, Gender, Level, Location, Role

LOCATIONS_HEADER = "pcode,name,parent_pcode"
FOCAL_POINTS_HEADER = "name,phone,organisation,gender,languages,locations,categories,role,level"

# Children before their parents, four levels deep (country > prefecture > sub-prefecture > commune).
PLACES = """\
pcode,name,parent_pcode
CF5211,Bambari commune,CF521
CF521,Bambari,CF52
CF52,Ouaka,CF
CF,République centrafricaine,
CF522,Ippy,CF52
CF61,Haute-Kotto,CF
CF611,Bria,CF61
"""

PEOPLE = """\
name,phone,organisation,gender,languages,locations,categories,role,level
National desk,+23670000001,UNICEF,M,fr;sg,CF,*,child_protection,primary
Ouaka officer,+236 7000 0011,MINUSCA Child Protection,F,fr;sg,CF52,recruitment;abduction,child_protection,primary
Ouaka backup,+23670000012,NGO partner,,fr,CF521;CF522,*,child_protection,backup
"""  # noqa: E501


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def write(tmp_path: Path, text: str, name: str = "data.csv", *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def load_locations(app: Flask, source: Path) -> ImportReport:
    with session_scope(app) as session:
        report = import_locations(session, source)
        session.commit()
    return report


def load_focal_points(app: Flask, source: Path) -> ImportReport:
    with session_scope(app) as session:
        report = import_focal_points(session, source)
        session.commit()
    return report


def counts(app: Flask) -> tuple[int, int, int]:
    """Count locations, focal points and coverage links."""
    with session_scope(app) as session:
        return (
            session.scalar(select(func.count()).select_from(Location)) or 0,
            session.scalar(select(func.count()).select_from(FocalPoint)) or 0,
            session.scalar(select(func.count()).select_from(FocalPointLocation)) or 0,
        )


def hierarchy(app: Flask) -> dict[str, tuple[str, str | None, int]]:
    """Return each location as pcode -> (name, parent pcode, depth)."""
    with session_scope(app) as session:
        return {
            row.pcode: (row.name, row.parent.pcode if row.parent else None, row.depth)
            for row in session.scalars(select(Location))
        }


def coverage(app: Flask) -> dict[tuple[str, Role], dict[str, object]]:
    with session_scope(app) as session:
        return {
            (fp.phone, fp.role): {
                "name": fp.name,
                "organisation": fp.organisation,
                "gender": fp.gender,
                "languages": fp.languages,
                "categories": fp.categories,
                "level": fp.level,
                "pcodes": sorted(location.pcode for location in fp.locations),
            }
            for fp in session.scalars(select(FocalPoint))
        }


def failure(app: Flask, importer: Callable[..., ImportReport], source: Path) -> ImportFailed:
    with session_scope(app) as session, pytest.raises(ImportFailed) as caught:
        importer(session, source)
    return caught.value


# Locations


def test_hierarchy_of_any_depth_with_parents_after_children(app: Flask, tmp_path: Path) -> None:
    report = load_locations(app, write(tmp_path, PLACES))

    assert report == ImportReport(created=7, updated=0, unchanged=0)
    assert report.summary("location", "locations") == (
        "7 locations: 7 created, 0 updated, 0 unchanged"
    )
    places = hierarchy(app)
    assert places["CF"] == ("République centrafricaine", None, 0)
    assert places["CF52"] == ("Ouaka", "CF", 1)
    assert places["CF521"] == ("Bambari", "CF52", 2)
    assert places["CF5211"] == ("Bambari commune", "CF521", 3)
    assert places["CF611"] == ("Bria", "CF61", 2)


def test_parent_may_already_be_in_the_database(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES))
    more = f"{LOCATIONS_HEADER}\nCF523,Grimari,CF52\nCF5231,Grimari centre,CF523\n"

    assert load_locations(app, write(tmp_path, more, "more.csv")) == ImportReport(2, 0, 0)
    assert hierarchy(app)["CF5231"] == ("Grimari centre", "CF523", 3)


def test_reimport_updates_names_and_parents_and_never_duplicates(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES))
    assert load_locations(app, write(tmp_path, PLACES)) == ImportReport(0, 0, 7)
    assert counts(app)[0] == 7

    # Rename Ippy, and move Bambari (with the commune under it) to the top level.
    changed = PLACES.replace("CF522,Ippy,CF52", "CF522,Ippy-Centre,CF52").replace(
        "CF521,Bambari,CF52", "CF521,Bambari,"
    )
    assert load_locations(app, write(tmp_path, changed)) == ImportReport(0, 2, 5)
    places = hierarchy(app)
    assert counts(app)[0] == 7
    assert places["CF522"] == ("Ippy-Centre", "CF52", 2)
    assert places["CF521"] == ("Bambari", None, 0)
    assert places["CF5211"] == ("Bambari commune", "CF521", 1)


def test_moving_a_location_fixes_the_depth_of_places_not_in_the_file(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES))
    move = f"{LOCATIONS_HEADER}\nCF52,Ouaka,CF61\n"

    assert load_locations(app, write(tmp_path, move, "move.csv")) == ImportReport(0, 1, 0)
    places = hierarchy(app)
    assert places["CF52"][2] == 2
    assert places["CF521"][2] == 3
    assert places["CF5211"][2] == 4


def test_bom_crlf_short_rows_and_blank_lines_are_read(app: Flask, tmp_path: Path) -> None:
    text = " PCode , Name ,Parent_Pcode\r\nCF,Centrafrique\r\n\r\nCF11 , Bangui ,CF\r\n"
    report = load_locations(app, write(tmp_path, text, bom=True))

    assert report == ImportReport(2, 0, 0)
    assert hierarchy(app) == {"CF": ("Centrafrique", None, 0), "CF11": ("Bangui", "CF", 1)}


def test_rows_may_be_given_as_mappings(app: Flask) -> None:
    rows = [
        {"pcode": "SS01", "name": "Central Equatoria", "parent_pcode": "SS"},
        {"pcode": "SS", "name": "South Sudan", "parent_pcode": ""},
    ]
    with session_scope(app) as session:
        assert import_locations(session, rows) == ImportReport(2, 0, 0)
        session.commit()
    assert hierarchy(app)["SS01"] == ("Central Equatoria", "SS", 1)


BAD_LOCATIONS = [
    ("missing pcode", ",Bambari,CF", "pcode is empty"),
    ("missing name", "CF521,,CF", "name is empty"),
    ("duplicate pcode", "CF52,Ouaka again,CF", "pcode 'CF52' is already on line 3"),
    ("unknown parent", "CF999,Nowhere,CF99", "unknown parent_pcode 'CF99'"),
    ("own parent", "CF999,Loop,CF999", "location 'CF999' is its own parent"),
    ("overlong name", "CF999," + "x" * 201 + ",CF", "name is longer than 200 characters"),
    ("overlong pcode", "C" * 33 + ",Long,CF", "pcode is longer than 32 characters"),
    ("space in pcode", "CF 52,Ouaka,CF", "pcode 'CF 52' may hold only"),
    ("stray comma", "CF999,Bangui, 1er,CF", "has 4 fields but the header has 3"),
]


@pytest.mark.parametrize(
    ("row", "reason"), [case[1:] for case in BAD_LOCATIONS], ids=[c[0] for c in BAD_LOCATIONS]
)
def test_a_bad_location_row_is_reported_and_nothing_is_imported(
    app: Flask, tmp_path: Path, row: str, reason: str
) -> None:
    load_locations(app, write(tmp_path, f"{LOCATIONS_HEADER}\nCF,Centrafrique,\n", "base.csv"))
    text = f"{LOCATIONS_HEADER}\nCF11,Bangui,CF\nCF52,Ouaka,CF\n{row}\nCF61,Haute-Kotto,CF\n"

    error = failure(app, import_locations, write(tmp_path, text))

    assert error.lines == [4]
    assert f"line 4: {reason}" in str(error)
    assert hierarchy(app) == {"CF": ("Centrafrique", None, 0)}


def test_cycles_are_reported_on_every_line_in_them(app: Flask, tmp_path: Path) -> None:
    text = f"{LOCATIONS_HEADER}\nCF,Centrafrique,\nA,A,C\nB,B,A\nC,C,B\nD,D,C\n"

    error = failure(app, import_locations, write(tmp_path, text))

    assert error.lines == [3, 4, 5]
    assert "line 3: location 'A' is its own ancestor: A > C > B > A" in str(error)
    assert counts(app) == (0, 0, 0)


def test_a_cycle_through_the_database_is_refused(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES))
    # Putting Ouaka under Bambari, which is under Ouaka.
    text = f"{LOCATIONS_HEADER}\nCF52,Ouaka,CF521\n"

    error = failure(app, import_locations, write(tmp_path, text, "loop.csv"))

    assert str(error).endswith("line 2: location 'CF52' is its own ancestor: CF52 > CF521 > CF52")
    assert hierarchy(app)["CF52"] == ("Ouaka", "CF", 1)


def test_every_bad_row_of_a_file_is_listed_at_once(app: Flask, tmp_path: Path) -> None:
    text = f"{LOCATIONS_HEADER}\nCF,Centrafrique,\n,x,CF\nCF11,Bangui,\nCF11,Bangui,CF\nZ,Z,Q\n"

    error = failure(app, import_locations, write(tmp_path, text))

    assert error.lines == [3, 5, 6]
    assert str(error).startswith("3 problems, nothing imported:\nline 3: pcode is empty\n")
    assert counts(app) == (0, 0, 0)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "line 1: file is empty"),
        (b"pcode,name\nCF,Centrafrique\n", "line 1: header lacks column(s): parent_pcode"),
        (b"pcode,name,name,parent_pcode\n", "line 1: header repeats column(s): name"),
        (b"pcode,name,parent_pcode\nCF,Centrafrique,\nCF11,Bangu\xe9,CF\n", "line 3: is not UTF-8"),
        (b'pcode,name,parent_pcode\nCF,"Centrafrique,\n', "line 2: is not valid CSV"),
    ],
    ids=["empty", "missing column", "repeated column", "not utf-8", "open quote"],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    app: Flask, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)

    error = failure(app, import_locations, path)

    assert reason in str(error)
    assert counts(app) == (0, 0, 0)


# Focal points


def test_focal_points_are_created_with_their_coverage(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))

    report = load_focal_points(app, write(tmp_path, PEOPLE, bom=True))

    assert report == ImportReport(created=3, updated=0, unchanged=0)
    people = coverage(app)
    national = people[("+23670000001", Role.CHILD_PROTECTION)]
    assert national["categories"] == ["*"]
    assert national["pcodes"] == ["CF"]
    assert national["gender"] == Gender.MALE
    assert national["languages"] == ["fr", "sg"]
    # Spaces in the number are removed.
    ouaka = people[("+23670000011", Role.CHILD_PROTECTION)]
    assert ouaka["categories"] == ["recruitment", "abduction"]
    assert ouaka["gender"] == Gender.FEMALE
    assert ouaka["organisation"] == "MINUSCA Child Protection"
    backup = people[("+23670000012", Role.CHILD_PROTECTION)]
    assert backup["gender"] is None
    assert backup["level"] == Level.BACKUP
    assert backup["pcodes"] == ["CF521", "CF522"]
    assert counts(app) == (7, 3, 4)


def test_a_focal_point_with_all_categories_covers_every_category(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    load_focal_points(app, write(tmp_path, PEOPLE))

    with session_scope(app) as session:
        national = session.scalars(
            select(FocalPoint).where(FocalPoint.phone == "+23670000001")
        ).one()
        ouaka = session.scalars(select(FocalPoint).where(FocalPoint.phone == "+23670000011")).one()
        assert national.covers_category("deprivation_liberty")
        assert ouaka.covers_category("abduction")
        assert not ouaka.covers_category("sexual_violence")


def test_reimport_updates_focal_points_and_replaces_coverage(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    load_focal_points(app, write(tmp_path, PEOPLE))
    assert load_focal_points(app, write(tmp_path, PEOPLE)) == ImportReport(0, 0, 3)
    assert counts(app) == (7, 3, 4)

    changed = PEOPLE.replace(
        "Ouaka backup,+23670000012,NGO partner,,fr,CF521;CF522,*",
        "Ouaka backup,+23670000012,Save the Children,F,fr;sg,CF611,sexual_violence",
    )
    assert load_focal_points(app, write(tmp_path, changed)) == ImportReport(0, 1, 2)

    backup = coverage(app)[("+23670000012", Role.CHILD_PROTECTION)]
    assert backup == {
        "name": "Ouaka backup",
        "organisation": "Save the Children",
        "gender": Gender.FEMALE,
        "languages": ["fr", "sg"],
        "categories": ["sexual_violence"],
        "level": Level.BACKUP,
        "pcodes": ["CF611"],
    }
    assert counts(app) == (7, 3, 3)


def test_the_same_phone_may_hold_two_roles(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    text = PEOPLE + "National desk,+23670000001,UNICEF,M,fr,CF,*,coordinator,primary\n"

    assert load_focal_points(app, write(tmp_path, text)) == ImportReport(4, 0, 0)
    assert ("+23670000001", Role.COORDINATOR) in coverage(app)


GOOD_PERSON = ["Bria officer", "+23670000031", "UNICEF", "F", "fr", "CF611", "*",
               "child_protection", "primary"]  # fmt: skip
BAD_PEOPLE = [
    ("national phone", 1, "070000031", "phone is not in E.164 form (+ and 8-15 digits)"),
    ("short phone", 1, "+2367000", "phone is not in E.164 form (+ and 8-15 digits)"),
    ("letters in phone", 1, "+2367000003l", "phone is not in E.164 form (+ and 8-15 digits)"),
    ("no phone", 1, "", "phone is empty"),
    ("no name", 0, "", "name is empty"),
    ("bad gender", 3, "Female", "gender must be F, M or empty, not 'Female'"),
    ("bad language", 4, "french", "language code(s) 'french' are not ISO 639 codes"),
    ("unknown location", 5, "CF611;CF99", "unknown location p-code(s) 'CF99'"),
    ("no location", 5, "", "locations is empty"),
    ("unknown category", 6, "recruitment;kidnap", "unknown category 'kidnap'"),
    ("all and more", 6, "*;killing", "categories: * means all, so it stands alone"),
    ("no category", 6, "", "categories is empty"),
    ("unknown role", 7, "protection", "unknown role 'protection' (expected one of: "),
    ("bad level", 8, "main", "unknown level 'main' (expected: primary, backup)"),
    ("duplicate", 1, "+236 7000 0011", "same phone and role as line 3"),
]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [case[1:] for case in BAD_PEOPLE],
    ids=[case[0] for case in BAD_PEOPLE],
)
def test_a_bad_focal_point_row_is_reported_and_nothing_is_imported(
    app: Flask, tmp_path: Path, column: int, value: str, reason: str
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    load_focal_points(app, write(tmp_path, PEOPLE, "people.csv"))
    before = coverage(app), counts(app)
    row = list(GOOD_PERSON)
    row[column] = value
    lines = PEOPLE.splitlines()
    # Header, a good update, a good new person, the bad row (line 5), another good row.
    text = "\n".join(
        [
            lines[0],
            lines[1].replace("National desk", "National desk (renamed)"),
            lines[2],
            "Vakaga officer,+23670000041,UNICEF,M,fr,CF,*,child_protection,primary",
            ",".join(row),
            lines[3],
        ]
    )

    error = failure(app, import_focal_points, write(tmp_path, text))

    assert error.lines == [5]
    assert f"line 5: {reason}" in str(error)
    assert (coverage(app), counts(app)) == before


def test_error_messages_never_echo_phone_numbers(app: Flask, tmp_path: Path) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    text = PEOPLE + PEOPLE.splitlines()[1] + "\nX,+2367000009,U,F,fr,CF,*,boss,primary\n"

    error = failure(app, import_focal_points, write(tmp_path, text))

    assert error.lines == [5, 6]
    assert not re.search(r"\d{6}", str(error))


def test_callers_see_an_import_within_a_second(app: Flask, tmp_path: Path) -> None:
    """Each web process caches the places; an import reaches its callers within a second."""
    from tests.caller import Caller

    load_locations(app, write(tmp_path, PLACES))
    client = app.test_client()

    def prefectures() -> str:
        caller = Caller(client, phone=f"+24397{time.monotonic_ns() % 10**7:07d}")
        caller.dial()
        for key in ["2", "1", "1", "1"]:  # English, alert, continue, recruited
            caller.press(key)
        return caller.screen

    before = prefectures()
    assert "Ouaka" in before and "Haut-Mbomou" not in before
    more = f"{LOCATIONS_HEADER}\nCF71,Haut-Mbomou,CF\n"
    load_locations(app, write(tmp_path, more, "more.csv"))
    time.sleep(1.1)
    assert "Haut-Mbomou" in prefectures()


# The whole roster: who is left out is deactivated, never deleted


def test_replace_deactivates_the_rows_the_file_leaves_out_and_keeps_their_coverage(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    two_roles = PEOPLE + "National desk,+23670000001,UNICEF,M,fr,CF,*,coordinator,primary\n"
    load_focal_points(app, write(tmp_path, two_roles))
    # The national desk stays a coordinator; its child protection row and the backup go.
    kept = "\n".join(two_roles.splitlines()[i] for i in (0, 2, 4)) + "\n"

    with session_scope(app) as session:
        report = import_focal_points(session, write(tmp_path, kept), replace=True)
        session.commit()

    assert report == ImportReport(0, 0, 2, (
        Deactivated("National desk", Role.CHILD_PROTECTION),
        Deactivated("Ouaka backup", Role.CHILD_PROTECTION),
    ), replaced=True)
    assert report.summary("focal point", "focal points") == (
        "2 focal points: 0 created, 0 updated, 2 unchanged, 2 deactivated\n"
        "deactivated: National desk (child_protection)\n"
        "deactivated: Ouaka backup (child_protection)"
    )
    with session_scope(app) as session:
        rows = {(fp.phone, fp.role): fp for fp in session.scalars(select(FocalPoint))}
        assert not rows[("+23670000001", Role.CHILD_PROTECTION)].active
        assert rows[("+23670000001", Role.COORDINATOR)].active
        backup = rows[("+23670000012", Role.CHILD_PROTECTION)]
        assert not backup.active
        assert sorted(loc.pcode for loc in backup.locations) == ["CF521", "CF522"]
    assert counts(app) == (7, 4, 5)


def test_without_replace_nobody_is_deactivated_and_the_summary_is_as_before(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    load_focal_points(app, write(tmp_path, PEOPLE))

    report = load_focal_points(app, write(tmp_path, "\n".join(PEOPLE.splitlines()[:2])))

    assert report == ImportReport(0, 0, 1)
    assert report.summary("focal point", "focal points") == (
        "1 focal point: 0 created, 0 updated, 1 unchanged"
    )
    with session_scope(app) as session:
        assert all(session.scalars(select(FocalPoint.active)))


def test_deactivate_phone_takes_every_active_role_and_the_import_brings_them_back(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    text = PEOPLE + "National desk,+23670000001,UNICEF,M,fr,CF,*,coordinator,primary\n"
    load_focal_points(app, write(tmp_path, text))
    phone = normalise_phone(" +236 7000 0001 ")
    assert phone == "+23670000001"
    assert normalise_phone("0023670000001") == "+23670000001"  # the international prefix

    with session_scope(app) as session:
        assert [str(who) for who in deactivate_phone(session, phone)] == [
            "National desk (child_protection)", "National desk (coordinator)"]
        assert deactivate_phone(session, phone) == []
        session.commit()

    assert load_focal_points(app, write(tmp_path, text)) == ImportReport(0, 2, 2)
    with session_scope(app) as session:
        assert all(session.scalars(select(FocalPoint.active)))


def test_roster_warnings_name_the_highest_areas_without_conduct_coverage(
    app: Flask, tmp_path: Path
) -> None:
    load_locations(app, write(tmp_path, PLACES, "places.csv"))
    triage = "Triage,+23670000099,UNICEF,F,fr,CF,*,triage,primary\n"
    bambari = "Conduct,+23670000021,OIOS,F,fr,CF521,*,conduct,primary\n"
    load_focal_points(app, write(tmp_path, PEOPLE + triage + bambari))

    with session_scope(app) as session:
        assert roster_warnings(session) == [
            "complaints about personnel from 4 areas reach no active conduct focal point: "
            "République centrafricaine (CF) itself, Haute-Kotto (CF61), Ouaka (CF52) itself, "
            "Ippy (CF522)"
        ]
        # A national conduct focal point covers everything, below included.
        national = "Conduct national,+23670000022,OIOS,F,fr,CF,*,conduct,backup\n"
        import_focal_points(session, [
            dict(zip(FOCAL_POINTS_HEADER.split(","), line.split(","), strict=True))
            for line in national.strip().splitlines()
        ])
        assert roster_warnings(session) == []
        # Inactive focal points cover nothing.
        deactivate_phone(session, "+23670000022")
        deactivate_phone(session, "+23670000099")
        warnings = roster_warnings(session)
        assert warnings[0].startswith("no active focal point has the triage role")
        assert warnings[1].startswith("complaints about personnel from 4 areas")


def test_roster_warnings_name_ten_areas_at_most(app: Flask, tmp_path: Path) -> None:
    places = LOCATIONS_HEADER + "\nZZ,Country,\n" + "".join(
        f"ZZ{i:02d},Province {i:02d},ZZ\n" for i in range(14)
    )
    load_locations(app, write(tmp_path, places, "places.csv"))
    people = (FOCAL_POINTS_HEADER + "\n"
              "Triage,+23670000099,UNICEF,F,fr,ZZ,*,triage,primary\n"
              "Conduct,+23670000021,OIOS,F,fr,ZZ00,*,conduct,primary\n")
    load_focal_points(app, write(tmp_path, people))

    with session_scope(app) as session:
        [warning] = roster_warnings(session)

    assert warning.startswith("complaints about personnel from 14 areas reach no active conduct "
                              "focal point: Country (ZZ) itself, Province 01 (ZZ01), ")
    assert warning.endswith("Province 09 (ZZ09) and 4 more")
