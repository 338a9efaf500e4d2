"""A place may have its own name in a language: callers and focal points read it in theirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from gateway.cases.messages import place_names
from gateway.conversation import get_catalogs, get_engine
from gateway.directory.imports import ImportFailed, ImportReport, import_locations
from gateway.directory.places import DatabasePlaces
from gateway.storage.db import session_scope
from gateway.storage.models import Case, Location

PLAIN = """\
pcode,name,parent_pcode
CF,République centrafricaine,
CF11,Bangui,CF
CF111,1er arrondissement,CF11
CF52,Ouaka,CF
"""

NAMED = """\
pcode,name,parent_pcode,name_en
CF,République centrafricaine,,Central African Republic
CF11,Bangui,CF,
CF111,1er arrondissement,CF11,1st arrondissement
CF52,Ouaka,CF,
"""


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def load(app: Flask, tmp_path: Path, text: str) -> ImportReport:
    path = tmp_path / "locations.csv"
    path.write_text(text, encoding="utf-8")
    with session_scope(app) as session:
        report = import_locations(session, path)
        session.commit()
    return report


def stored(app: Flask) -> dict[str, dict[str, str]]:
    with session_scope(app) as session:
        return dict(session.execute(select(Location.pcode, Location.names)).all())


def count(app: Flask) -> int:
    with session_scope(app) as session:
        return session.scalar(select(func.count(Location.id))) or 0


def test_a_file_with_english_names_imports_and_imports_again_in_place(
    app: Flask, tmp_path: Path
) -> None:
    assert load(app, tmp_path, NAMED) == ImportReport(created=4)
    assert stored(app) == {
        "CF": {"en": "Central African Republic"}, "CF11": {},
        "CF111": {"en": "1st arrondissement"}, "CF52": {},
    }
    assert load(app, tmp_path, NAMED) == ImportReport(unchanged=4)
    corrected = NAMED.replace("1st arrondissement", "First arrondissement")
    assert load(app, tmp_path, corrected) == ImportReport(updated=1, unchanged=3)
    assert count(app) == 4  # updated, never doubled
    assert stored(app)["CF111"] == {"en": "First arrondissement"}


def test_a_file_without_name_columns_imports_and_leaves_the_names_as_they_are(
    app: Flask, tmp_path: Path
) -> None:
    assert load(app, tmp_path, PLAIN) == ImportReport(created=4)
    assert all(names == {} for names in stored(app).values())
    load(app, tmp_path, NAMED)
    # An older file, without name_en, changes nothing: the English names stay.
    assert load(app, tmp_path, PLAIN) == ImportReport(unchanged=4)
    assert stored(app)["CF"] == {"en": "Central African Republic"}


def test_an_empty_cell_removes_a_name_and_one_like_the_default_is_not_kept(
    app: Flask, tmp_path: Path
) -> None:
    load(app, tmp_path, NAMED)
    emptied = NAMED.replace(",Central African Republic", ",").replace(
        "CF52,Ouaka,CF,", "CF52,Ouaka,CF,Ouaka"
    )
    assert load(app, tmp_path, emptied) == ImportReport(updated=1, unchanged=3)
    names = stored(app)
    assert names["CF"] == {} and names["CF52"] == {}
    assert names["CF111"] == {"en": "1st arrondissement"}


def test_names_in_several_languages_and_a_bad_one_refused_with_its_line(
    app: Flask, tmp_path: Path
) -> None:
    text = (
        "Name,PCODE,parent_pcode,name_sw,NAME_EN,name_ar_SS\n"
        "République centrafricaine,CF,,,Central African Republic,جمهورية أفريقيا الوسطى\n"
    )
    load(app, tmp_path, text)  # headers in any case; a column left empty stores nothing
    assert stored(app) == {
        "CF": {"en": "Central African Republic", "ar_SS": "جمهورية أفريقيا الوسطى"}
    }
    load(app, tmp_path, "pcode,name,parent_pcode,name_ar_SS\nCF,République centrafricaine,,\n")
    too_long = f"pcode,name,parent_pcode,name_en\nCF,République centrafricaine,,{'x' * 201}\n"
    with pytest.raises(ImportFailed) as failed:
        load(app, tmp_path, too_long)
    assert failed.value.lines == [2]
    assert "name_en is longer than 200 characters" in str(failed.value)
    assert stored(app) == {"CF": {"en": "Central African Republic"}}  # all or nothing


def test_rows_given_as_mappings_carry_their_names(app: Flask) -> None:
    rows = [{"pcode": "CF", "name": "République centrafricaine", "parent_pcode": "",
             "name_en": "Central African Republic"}]
    with session_scope(app) as session:
        import_locations(session, rows)
        session.commit()
    assert stored(app) == {"CF": {"en": "Central African Republic"}}


def test_the_cached_tree_reads_the_names_again_after_an_import(
    app: Flask, tmp_path: Path
) -> None:
    now = [0.0]
    places = DatabasePlaces(app, clock=lambda: now[0])
    load(app, tmp_path, PLAIN)
    country = places.get("CF")
    assert country is not None and country.name_in("en") == "République centrafricaine"
    load(app, tmp_path, NAMED)
    now[0] += 5  # past the next check of the table's stamp
    country = places.get("CF")
    assert country is not None
    assert country.name_in("en") == "Central African Republic"
    assert country.name_in("fr") == country.name_in("sg") == "République centrafricaine"
    assert country.name_in(None) == "République centrafricaine"


def location_step(app: Flask) -> tuple[str, str]:
    engine = get_engine(app)
    for flow in engine.flows.values():
        for step in flow.steps.values():
            if step.type == "location":
                return flow.name, step.name
    raise AssertionError("no location step in the shipped flows")


def test_every_menu_of_places_names_them_in_the_callers_language(
    app: Flask, tmp_path: Path
) -> None:
    load(app, tmp_path, NAMED)
    engine = get_engine(app)
    flow, step = location_step(app)
    # One country: the menu starts at its provinces, and ends with "elsewhere in" the country.
    english = engine.menu_at(flow, step, "en", level="CF").labels
    french = engine.menu_at(flow, step, "fr", level="CF").labels
    assert "Central African Republic" in english[-1] and "centrafricaine" not in english[-1]
    assert "République centrafricaine" in french[-1]
    assert engine.menu_at(flow, step, "en", level="CF11").labels[0] == "1st arrondissement"
    assert engine.menu_at(flow, step, "fr", level="CF11").labels[0] == "1er arrondissement"


def test_a_focal_point_reads_the_place_in_the_language_of_their_sms(app: Flask) -> None:
    country = Location(pcode="CF", name="République centrafricaine",
                       names={"en": "Central African Republic"})
    bangui = Location(pcode="CF11", name="Bangui", names={}, parent=country)
    district = Location(pcode="CF111", name="1er arrondissement",
                        names={"en": "1st arrondissement"}, parent=bangui)
    catalogs = get_catalogs(app)
    assert place_names(Case(location=district), catalogs, "en")[-1] == "1st arrondissement"
    assert place_names(Case(location=district), catalogs, "fr")[-1] == "1er arrondissement"
    assert place_names(Case(location=bangui), catalogs, "en")[0] == (
        "Bangui (Central African Republic)"
    )
    assert place_names(Case(location=bangui), catalogs, "fr")[0] == (
        "Bangui (République centrafricaine)"
    )
    # A language without a name of its own reads the default name.
    assert place_names(Case(location=country), catalogs, "sg") == ["République centrafricaine"]
