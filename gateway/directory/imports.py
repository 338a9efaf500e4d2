"""Deployment data from CSV files: the location hierarchy, the focal points (the roster), services.

Each import is all-or-nothing: every row is checked before anything is written, and a file with
any bad row raises `ImportFailed` listing each problem with its CSV line number (the header is
line 1). Writes go into the caller's session, flushed but not committed: the caller commits.
A focal point who leaves is deactivated, never deleted (their cases' history names them):
by a whole-roster import (`replace=True`) that leaves them out, or by phone number.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from gateway.errors import GatewayError, ImportRowError
from gateway.privacy.numbers import e164
from gateway.storage.models import (
    CATEGORIES,
    FocalPoint,
    FocalPointLocation,
    Gender,
    Level,
    Location,
    Role,
    Service,
    ServiceKind,
    utcnow,
)

LOCATION_COLUMNS = ("pcode", "name", "parent_pcode")
FOCAL_POINT_COLUMNS = (
    "name",
    "phone",
    "organisation",
    "gender",
    "languages",
    "locations",
    "categories",
    "role",
    "level",
)
SERVICE_COLUMNS = ("name", "kind", "phone", "locations", "hours", "languages")
ALL_CATEGORIES = "*"
LIST_SEPARATOR = ";"

# ISO 639-1/639-3 codes, optionally with a region or script (fr, sg, din, ar_SS, pt-BR).
LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?")
# p-codes are letters, digits and a few separators; never spaces or the list separator.
PCODE = re.compile(r"[A-Za-z0-9_.\-]+")
# Optional location columns: the place's own name in one language (name_en, name_fr, name_sw).
NAME_IN = "name_"
NAME_IN_COLUMN = re.compile(rf"{NAME_IN}({LANGUAGE.pattern})", re.IGNORECASE)

CsvSource = str | os.PathLike[str] | IO[str] | IO[bytes] | Iterable[Mapping[str, Any]]

# Areas named at most in a warning; the rest are counted.
MAX_AREAS_NAMED = 10


@dataclass(frozen=True)
class Deactivated:
    """A focal point row made inactive: only their name and role, never their number."""

    name: str
    role: Role

    def __str__(self) -> str:
        return f"{self.name} ({self.role.value})"


@dataclass(frozen=True)
class ImportReport:
    """How many rows of a file were created, updated or left unchanged; who was deactivated."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # A whole-roster import: those it left out, made inactive (`replaced` says it was one).
    deactivated: tuple[Deactivated, ...] = ()
    replaced: bool = False

    @property
    def total(self) -> int:
        """Return the number of rows imported."""
        return self.created + self.updated + self.unchanged

    def summary(self, singular: str, plural: str) -> str:
        """Return '12 locations: 10 created, 2 updated, 0 unchanged' (+ who was deactivated)."""
        noun = singular if self.total == 1 else plural
        line = (
            f"{self.total} {noun}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        if not self.replaced:
            return line
        return "\n".join(
            [f"{line}, {len(self.deactivated)} deactivated"]
            + [f"deactivated: {who}" for who in self.deactivated]
        )


class ImportFailed(GatewayError):
    """A CSV file has bad rows; nothing of it was written."""

    def __init__(self, errors: Sequence[ImportRowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.line)
        count = len(self.errors)
        lines = "\n".join(str(error) for error in self.errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}, nothing imported:\n{lines}")

    @property
    def lines(self) -> list[int]:
        """Return the line numbers that have a problem, in order, each once."""
        return sorted({error.line for error in self.errors})


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]


class _Problems:
    """Collects row errors while a file is checked."""

    def __init__(self) -> None:
        self.errors: list[ImportRowError] = []

    def add(self, line: int, message: str) -> None:
        self.errors.append(ImportRowError(line, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportFailed(self.errors)


def _show(value: str, limit: int = 40) -> str:
    """Quote a value from the file for an error message, shortened and with escapes visible."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _max_length(column: InstrumentedAttribute[Any]) -> int:
    length = getattr(column.property.columns[0].type, "length", None)
    assert isinstance(length, int)
    return length


def _split(value: str) -> list[str]:
    """Split a `;`-separated cell into its non-empty parts, in order, each once."""
    parts = (part.strip() for part in value.split(LIST_SEPARATOR))
    return list(dict.fromkeys(part for part in parts if part))


# Reading


def _read_text(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> str | ImportRowError:
    """Return the text of a file or stream (UTF-8, with or without BOM), or why it cannot."""
    if isinstance(source, str | os.PathLike):
        data: str | bytes = Path(source).read_bytes()
    else:
        data = source.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return ImportRowError(line, "is not UTF-8 text (save the file as CSV UTF-8)")


def _records(text: str) -> Iterator[tuple[int, list[str] | ImportRowError]]:
    """Yield each CSV record with the line it starts on, skipping blank lines; stop at bad CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Past a broken quote the reader cannot tell where rows start: stop here.
            yield line, ImportRowError(line, f"is not valid CSV ({exc})")
            return
        if any(field.strip() for field in record):
            yield line, record


def _check_header(header: list[str], columns: Sequence[str], problems: _Problems) -> None:
    names = [name.strip().lower() for name in header]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problems.add(1, f"header repeats column(s): {', '.join(duplicates)}")
    missing = [column for column in columns if column not in names]
    if missing:
        problems.add(
            1,
            f"header lacks column(s): {', '.join(missing)} (expected: {','.join(columns)})",
        )


def _optional_columns(names: Iterable[str], optional: re.Pattern[str] | None) -> dict[str, str]:
    """Map each optional column among names, as it is read, to its name in those names."""
    if optional is None:
        return {}
    found: dict[str, str] = {}
    for name in names:
        match = optional.fullmatch(name.strip())
        if match:
            # Lower-case like every column (name_EN is name_en), but a language code's region
            # as written (name_ar_SS), as in locales/languages.toml.
            prefix, code = name.strip()[: match.start(1)], match.group(1)
            primary, *region = re.split(r"(?=[_-])", code, maxsplit=1)
            found[(prefix + primary).lower() + "".join(region)] = name
    return found


def _read_rows(
    source: CsvSource,
    columns: Sequence[str],
    problems: _Problems,
    optional: re.Pattern[str] | None = None,
) -> list[_Row]:
    """Read a CSV source's rows as stripped strings by column; a bad header stops at once.

    optional: columns a file may have or not (name_en); a row holds those its file has.
    """
    rows: list[_Row] = []
    if not isinstance(source, str | os.PathLike) and not hasattr(source, "read"):
        for line, mapping in enumerate(source, start=2):  # type: ignore[arg-type]
            values = {column: str(mapping.get(column) or "").strip() for column in columns}
            for column, key in _optional_columns(mapping, optional).items():
                values[column] = str(mapping.get(key) or "").strip()
            rows.append(_Row(line, values))
        return rows

    text = _read_text(source)  # type: ignore[arg-type]
    if isinstance(text, ImportRowError):
        raise ImportFailed([text])
    records = _records(text)
    first = next(records, None)
    if first is None:
        raise ImportFailed([ImportRowError(1, f"file is empty: expected {','.join(columns)}")])
    _, header = first
    if isinstance(header, ImportRowError):
        raise ImportFailed([header])
    header_problems = _Problems()
    _check_header(header, columns, header_problems)
    header_problems.raise_if_any()

    index = {name.strip().lower(): i for i, name in enumerate(header)}
    extra = {
        column: index[name.strip().lower()]
        for column, name in _optional_columns(header, optional).items()
    }
    for line, record in records:
        if isinstance(record, ImportRowError):
            problems.errors.append(record)
            break
        if len(record) > len(header) and any(field.strip() for field in record[len(header) :]):
            problems.add(
                line,
                f"has {len(record)} fields but the header has {len(header)} "
                "(put a value that contains a comma in double quotes)",
            )
            continue
        # A short row (trailing empty cells left out) reads its missing cells as empty.
        at = {column: index[column] for column in columns} | extra
        values = {
            column: record[i].strip() if i < len(record) else "" for column, i in at.items()
        }
        rows.append(_Row(line, values))
    return rows


def _check_text(
    row: _Row, column: str, limit: int, problems: _Problems, *, required: bool = True
) -> str | None:
    value = row.values[column]
    if not value:
        if required:
            problems.add(row.line, f"{column} is empty")
            return None
        return value
    if len(value) > limit:
        problems.add(row.line, f"{column} is longer than {limit} characters")
        return None
    return value


def _flush(session: Session) -> None:
    """Flush the import's writes, undoing all of them if the database refuses any."""
    try:
        session.flush()
    except SQLAlchemyError:
        session.rollback()
        raise


# Locations


@dataclass(frozen=True)
class _Place:
    line: int
    pcode: str
    name: str
    parent: str | None
    # From the file's name_<lang> columns: a language's name, or "" (the column is empty).
    names: dict[str, str] = field(default_factory=dict)

    def names_over(self, stored: Mapping[str, str]) -> dict[str, str]:
        """Return the stored names with this row's: a column the file lacks keeps its names.

        An empty cell removes a language's name, and a name equal to `name` is not kept: that
        language reads `name` either way.
        """
        merged = {**stored, **self.names}
        return {
            lang: merged[lang] for lang in sorted(merged) if merged[lang] not in ("", self.name)
        }


def _check_places(rows: list[_Row], known: set[str], problems: _Problems) -> dict[str, _Place]:
    """Check each location row on its own and against the others; return the good ones."""
    pcode_limit, name_limit = _max_length(Location.pcode), _max_length(Location.name)
    places: dict[str, _Place] = {}
    first_line: dict[str, int] = {}
    for row in rows:
        before = len(problems.errors)
        pcode = _check_text(row, "pcode", pcode_limit, problems)
        name = _check_text(row, "name", name_limit, problems)
        names = {
            column.removeprefix(NAME_IN): _check_text(
                row, column, name_limit, problems, required=False
            ) or ""
            for column in row.values
            if column.startswith(NAME_IN)
        }
        parent = row.values["parent_pcode"] or None
        for column, code in (("pcode", pcode), ("parent_pcode", parent)):
            if code and not PCODE.fullmatch(code):
                problems.add(
                    row.line, f"{column} {_show(code)} may hold only letters, digits, '_', '-', '.'"
                )
        if pcode:
            if pcode in first_line:
                where = first_line[pcode]
                problems.add(row.line, f"pcode {_show(pcode)} is already on line {where}")
                continue
            first_line[pcode] = row.line
            if parent == pcode:
                problems.add(row.line, f"location {_show(pcode)} is its own parent")
        if pcode and name and len(problems.errors) == before:
            places[pcode] = _Place(row.line, pcode, name, parent, names)

    # Parents may come later in the file, or be in the database already.
    for place in places.values():
        if place.parent and place.parent not in first_line and place.parent not in known:
            problems.add(
                place.line,
                f"unknown parent_pcode {_show(place.parent)} "
                "(neither in this file nor in the database)",
            )
    return places


def _check_cycles(
    parents: Mapping[str, str | None], places: Mapping[str, _Place], problems: _Problems
) -> None:
    """Report every location of the file that would become its own ancestor."""
    for place in places.values():
        chain = [place.pcode]
        current = parents.get(place.pcode)
        seen = {place.pcode}
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            current = parents.get(current)
        if current == place.pcode and len(chain) > 1:
            path = " > ".join([*chain, place.pcode])
            problems.add(place.line, f"location {_show(place.pcode)} is its own ancestor: {path}")


def _depths(parents: Mapping[str, str | None]) -> dict[str, int]:
    """Return each location's depth (0 at the top) in a hierarchy known to have no cycle."""
    depths: dict[str, int] = {}
    for pcode in parents:
        chain: list[str] = []
        current: str | None = pcode
        while current is not None and current not in depths:
            chain.append(current)
            current = parents.get(current)
        base = -1 if current is None else depths[current]
        for offset, code in enumerate(reversed(chain), start=1):
            depths[code] = base + offset
    return depths


def import_locations(session: Session, rows_or_file: CsvSource) -> ImportReport:
    """Create or update locations from `pcode,name,parent_pcode[,name_<lang>...]` rows.

    All or nothing. A `name_<lang>` column (name_en) gives a place its own name in a language;
    a file without it leaves the names stored in that language as they are.
    """
    problems = _Problems()
    rows = _read_rows(rows_or_file, LOCATION_COLUMNS, problems, NAME_IN_COLUMN)
    existing = {row.pcode: row for row in session.scalars(select(Location))}
    places = _check_places(rows, set(existing), problems)

    pcode_of = {row.id: pcode for pcode, row in existing.items()}
    parents: dict[str, str | None] = {
        pcode: pcode_of.get(row.parent_id) if row.parent_id else None
        for pcode, row in existing.items()
    }
    parents.update({pcode: place.parent for pcode, place in places.items()})
    _check_cycles(parents, places, problems)
    problems.raise_if_any()

    depths = _depths(parents)
    created = updated = unchanged = 0
    objects = dict(existing)
    for pcode, place in places.items():
        if pcode not in objects:
            objects[pcode] = Location(
                pcode=pcode, name=place.name, names=place.names_over({}), depth=depths[pcode]
            )
            session.add(objects[pcode])
    for pcode, place in places.items():
        location = objects[pcode]
        parent = objects[place.parent] if place.parent else None
        if pcode not in existing:
            location.parent = parent
            created += 1
            continue
        # A new dict, never one changed in place: the JSON column sees only a new value.
        names = place.names_over(location.names or {})
        if (location.name, location.names, location.parent) != (place.name, names, parent):
            location.name, location.names, location.parent = place.name, names, parent
            location.updated_at = utcnow()
            updated += 1
        else:
            unchanged += 1
    # Moving a location moves everything below it, in the file or not: keep every depth right.
    for pcode, location in existing.items():
        if location.depth != depths[pcode]:
            location.depth = depths[pcode]
            location.updated_at = utcnow()
    _flush(session)
    return ImportReport(created, updated, unchanged)


# Focal points


@dataclass(frozen=True)
class _Person:
    line: int
    name: str
    phone: str
    organisation: str
    gender: Gender | None
    languages: list[str]
    pcodes: list[str]
    categories: list[str]
    role: Role
    level: Level


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


PHONE_FORM = "phone is not in E.164 form (+ and 8-15 digits)"


def normalise_phone(value: str) -> str | None:
    """Return a focal point's number as stored (E.164), or None if it is not plausibly one.

    The same form as every number that comes in (privacy.numbers.e164): separators dropped,
    00 read as "+"; a national number ("0701 000 021") is refused, never guessed at. Stripped
    first: in a file a leading space is only a space, never a "+" lost on the way.
    """
    return e164(value.strip())


def _check_phone(row: _Row, problems: _Problems) -> str | None:
    # Never echo the number itself: error text ends up in terminals and logs.
    if not row.values["phone"].strip():
        problems.add(row.line, "phone is empty")
        return None
    phone = normalise_phone(row.values["phone"])
    if phone is None:
        problems.add(row.line, PHONE_FORM)
    return phone


def _check_gender(row: _Row, problems: _Problems) -> Gender | None:
    value = row.values["gender"].upper()
    if not value:
        return None
    try:
        return Gender(value)
    except ValueError:
        problems.add(row.line, f"gender must be F, M or empty, not {_show(row.values['gender'])}")
        return None


def _language(code: str) -> str:
    """Write a language code's first part in lower case (FR -> fr, ar_SS stays ar_SS)."""
    first, separator, rest = code.partition("_") if "_" in code else code.partition("-")
    return first.lower() + separator + rest


def _check_languages(row: _Row, problems: _Problems) -> list[str] | None:
    languages = list(dict.fromkeys(_language(code) for code in _split(row.values["languages"])))
    bad = [code for code in languages if not LANGUAGE.fullmatch(code)]
    if bad:
        problems.add(
            row.line,
            f"language code(s) {', '.join(map(_show, bad))} are not ISO 639 codes like fr or sg",
        )
        return None
    return languages


def _check_pcodes(row: _Row, known: set[str], problems: _Problems) -> list[str] | None:
    pcodes = _split(row.values["locations"])
    if not pcodes:
        problems.add(row.line, "locations is empty: give at least one p-code")
        return None
    unknown = [code for code in pcodes if code not in known]
    if unknown:
        problems.add(
            row.line,
            f"unknown location p-code(s) {', '.join(map(_show, unknown))} "
            "(import the locations first)",
        )
        return None
    return pcodes


def _check_categories(row: _Row, problems: _Problems) -> list[str] | None:
    categories = [code.lower() for code in _split(row.values["categories"])]
    if not categories:
        problems.add(row.line, "categories is empty: give category codes, or * for all")
        return None
    if ALL_CATEGORIES in categories:
        if len(categories) > 1:
            problems.add(row.line, "categories: * means all, so it stands alone")
            return None
        return [ALL_CATEGORIES]
    unknown = [code for code in categories if code not in CATEGORIES]
    if unknown:
        problems.add(
            row.line,
            f"unknown category {', '.join(map(_show, unknown))} "
            f"(expected: {_choices(CATEGORIES)}, or * for all)",
        )
        return None
    return categories


_Word = TypeVar("_Word", bound=StrEnum)


def _check_choice(
    row: _Row, column: str, vocabulary: type[_Word], problems: _Problems,
    expected: str = "expected one of",
) -> _Word | None:
    """Read a column holding one word of a vocabulary (role, level, kind), any case."""
    value = row.values[column].lower()
    try:
        return vocabulary(value)
    except ValueError:
        shown = _show(row.values[column])
        what = f"unknown {column} {shown}" if value else f"{column} is empty"
        problems.add(row.line, f"{what} ({expected}: {_choices(v.value for v in vocabulary)})")
        return None


def _check_person(row: _Row, known: set[str], problems: _Problems) -> _Person | None:
    """Check one focal point row; return it parsed, or None if anything is wrong."""
    before = len(problems.errors)
    name = _check_text(row, "name", _max_length(FocalPoint.name), problems)
    phone = _check_phone(row, problems)
    organisation = _check_text(
        row, "organisation", _max_length(FocalPoint.organisation), problems, required=False
    )
    gender = _check_gender(row, problems)
    languages = _check_languages(row, problems)
    pcodes = _check_pcodes(row, known, problems)
    categories = _check_categories(row, problems)
    role = _check_choice(row, "role", Role, problems)
    level = _check_choice(row, "level", Level, problems, expected="expected")
    if len(problems.errors) != before:
        return None
    assert name and phone and organisation is not None and languages is not None
    assert pcodes and categories and role and level
    return _Person(
        row.line, name, phone, organisation, gender, languages, pcodes, categories, role, level
    )


def _person_fields(person: _Person) -> dict[str, Any]:
    return {
        "name": person.name,
        "organisation": person.organisation,
        "gender": person.gender,
        "languages": person.languages,
        "categories": person.categories,
        "level": person.level,
        "active": True,
    }


def import_focal_points(
    session: Session, file: CsvSource, *, replace: bool = False
) -> ImportReport:
    """Create or update focal points keyed by (phone, role); `replace`: deactivate the rest."""
    problems = _Problems()
    rows = _read_rows(file, FOCAL_POINT_COLUMNS, problems)
    known = set(session.scalars(select(Location.pcode)))
    people: list[_Person] = []
    first_line: dict[tuple[str, Role], int] = {}
    for row in rows:
        person = _check_person(row, known, problems)
        if person is None:
            continue
        key = (person.phone, person.role)
        if key in first_line:
            problems.add(row.line, f"same phone and role as line {first_line[key]}")
            continue
        first_line[key] = row.line
        people.append(person)
    problems.raise_if_any()
    if replace and not people:
        raise ImportFailed([ImportRowError(
            1, "the file lists no focal point: as the whole roster it would deactivate everyone "
            "(to deactivate one person: gateway focal-points deactivate PHONE)",
        )])

    needed = {code for person in people for code in person.pcodes}
    locations = {
        location.pcode: location
        for location in session.scalars(select(Location).where(Location.pcode.in_(needed)))
    }
    existing = {
        (focal_point.phone, focal_point.role): focal_point
        for focal_point in session.scalars(
            select(FocalPoint).options(selectinload(FocalPoint.locations))
        )
    }
    created = updated = unchanged = 0
    for person in people:
        fields = _person_fields(person)
        coverage = [locations[code] for code in person.pcodes]
        focal_point = existing.get((person.phone, person.role))
        if focal_point is None:
            session.add(
                FocalPoint(phone=person.phone, role=person.role, locations=coverage, **fields)
            )
            created += 1
            continue
        same_fields = all(getattr(focal_point, key) == value for key, value in fields.items())
        same_coverage = {loc.pcode for loc in focal_point.locations} == set(person.pcodes)
        if same_fields and same_coverage:
            unchanged += 1
            continue
        for key, value in fields.items():
            setattr(focal_point, key, value)
        focal_point.locations = coverage
        focal_point.updated_at = utcnow()
        updated += 1
    deactivated: list[Deactivated] = []
    if replace:
        # The file is the whole roster: whoever it leaves out no longer receives nor acts.
        absent = [fp for key, fp in existing.items() if key not in first_line and fp.active]
        deactivated = _deactivate(sorted(absent, key=lambda fp: fp.id))
    _flush(session)
    return ImportReport(created, updated, unchanged, tuple(deactivated), replace)


def _deactivate(focal_points: Iterable[FocalPoint]) -> list[Deactivated]:
    """Make focal point rows inactive (their coverage is kept for a re-import); return who."""
    deactivated = []
    for focal_point in focal_points:
        focal_point.active = False
        focal_point.updated_at = utcnow()
        deactivated.append(Deactivated(focal_point.name, focal_point.role))
    return deactivated


def deactivate_phone(session: Session, phone: str) -> list[Deactivated]:
    """Deactivate every active role of a normalised phone number; return who (empty: nobody)."""
    rows = session.scalars(
        select(FocalPoint)
        .where(FocalPoint.phone == phone, FocalPoint.active.is_(True))
        .order_by(FocalPoint.id)
    )
    deactivated = _deactivate(rows)
    _flush(session)
    return deactivated


# What the roster leaves uncovered


def roster_warnings(session: Session) -> list[str]:
    """Return what the active roster leaves uncovered: no triage role, areas without conduct."""
    roles = set(session.scalars(
        select(FocalPoint.role).where(FocalPoint.active.is_(True)).distinct()
    ))
    warnings = []
    if Role.TRIAGE not in roles:
        warnings.append(
            "no active focal point has the triage role: an SMS no flow understands reaches "
            "nobody unless a focal point covers its sender's last known place"
        )
    if Role.CONDUCT not in roles:
        warnings.append(
            "no active focal point has the conduct role: complaints about personnel reach nobody"
        )
        return warnings
    areas = _uncovered_areas(session, Role.CONDUCT)
    if areas:
        named = ", ".join(areas[:MAX_AREAS_NAMED])
        more = len(areas) - MAX_AREAS_NAMED
        warnings.append(
            f"complaints about personnel from {len(areas)} area{'s' if len(areas) != 1 else ''} "
            f"reach no active conduct focal point: {named}"
            + (f" and {more} more" if more > 0 else "")
        )
    return warnings


def _uncovered_areas(session: Session, role: Role) -> list[str]:
    """Name the highest areas no active focal point of the role covers (there or above)."""
    places = list(session.execute(
        select(Location.id, Location.pcode, Location.name, Location.parent_id)
        .order_by(Location.depth, Location.name)
    ))
    parent_of = {place.id: place.parent_id for place in places}
    direct = set(session.scalars(
        select(FocalPointLocation.location_id)
        .join(FocalPoint, FocalPoint.id == FocalPointLocation.focal_point_id)
        .where(FocalPoint.active.is_(True), FocalPoint.role == role)
    ))
    covered: set[int] = set()
    for place in places:  # parents first: a location covers everything below it
        if place.id in direct or place.parent_id in covered:
            covered.add(place.id)
    # Uncovered places above a covered one: only their own level is missed ("itself"), which
    # for a top-level place includes complaints whose place the caller did not know.
    partly: set[int] = set()
    for place_id in covered:
        parent = parent_of.get(place_id)
        while parent is not None and parent not in covered and parent not in partly:
            partly.add(parent)
            parent = parent_of.get(parent)
    # Below a wholly uncovered place everything is uncovered: naming the place says it all.
    return [
        f"{place.name} ({place.pcode})" + (" itself" if place.id in partly else "")
        for place in places
        if place.id not in covered and (place.parent_id is None or place.parent_id in partly)
    ]


# Services


@dataclass(frozen=True)
class _Service:
    line: int
    name: str
    kind: ServiceKind
    phone: str
    pcodes: list[str]
    hours: str
    languages: list[str]


def _check_service(row: _Row, known: set[str], problems: _Problems) -> _Service | None:
    """Check one service row; return it parsed, or None if anything is wrong."""
    before = len(problems.errors)
    name = _check_text(row, "name", _max_length(Service.name), problems)
    kind = _check_choice(row, "kind", ServiceKind, problems)
    phone = _check_phone(row, problems)
    pcodes = _check_pcodes(row, known, problems)
    hours = _check_text(row, "hours", _max_length(Service.hours), problems, required=False)
    languages = _check_languages(row, problems)
    if len(problems.errors) != before:
        return None
    assert name and kind and phone and pcodes and hours is not None and languages is not None
    return _Service(row.line, " ".join(name.split()), kind, phone, pcodes,
                    " ".join(hours.split()), languages)


def import_services(session: Session, file: CsvSource, *, replace: bool = False) -> ImportReport:
    """Create or update services keyed by (name, kind); `replace`: deactivate the rest.

    A service's phone is an organisation's public number, stored as given (E.164).
    """
    problems = _Problems()
    rows = _read_rows(file, SERVICE_COLUMNS, problems)
    known = set(session.scalars(select(Location.pcode)))
    services: list[_Service] = []
    first_line: dict[tuple[str, ServiceKind], int] = {}
    for row in rows:
        service = _check_service(row, known, problems)
        if service is None:
            continue
        key = (service.name.casefold(), service.kind)
        if key in first_line:
            problems.add(row.line, f"same name and kind as line {first_line[key]}")
            continue
        first_line[key] = row.line
        services.append(service)
    problems.raise_if_any()
    if replace and not services:
        raise ImportFailed([ImportRowError(
            1, "the file lists no service: as the whole directory it would deactivate them all",
        )])

    needed = {code for service in services for code in service.pcodes}
    locations = {
        location.pcode: location
        for location in session.scalars(select(Location).where(Location.pcode.in_(needed)))
    }
    existing = {
        (service.name.casefold(), service.kind): service
        for service in session.scalars(select(Service).options(selectinload(Service.locations)))
    }
    created = updated = unchanged = 0
    for service in services:
        fields: dict[str, Any] = {"name": service.name, "phone": service.phone,
                                  "hours": service.hours, "languages": service.languages,
                                  "active": True}
        coverage = [locations[code] for code in service.pcodes]
        stored = existing.get((service.name.casefold(), service.kind))
        if stored is None:
            session.add(Service(kind=service.kind, locations=coverage, **fields))
            created += 1
            continue
        same_fields = all(getattr(stored, key) == value for key, value in fields.items())
        if same_fields and {loc.pcode for loc in stored.locations} == set(service.pcodes):
            unchanged += 1
            continue
        for key, value in fields.items():
            setattr(stored, key, value)
        stored.locations = coverage
        stored.updated_at = utcnow()
        updated += 1
    if replace:
        # The file is the whole directory: a service it leaves out is no longer named.
        for key, stored in existing.items():
            if key not in first_line and stored.active:
                stored.active = False
                stored.updated_at = utcnow()
    _flush(session)
    return ImportReport(created, updated, unchanged)
