"""Database migrations with Alembic, run from the gateway's own settings.

Only `gateway db upgrade` (and `gateway serve` on the embedded default) migrates; every other
command checks the schema with require_current() and refuses to run on an older one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect, text

from gateway.errors import DatabaseBehind
from gateway.storage.db import get_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, kept by migrations/env.py


@dataclass(frozen=True)
class Migration:
    """One migration: its revision and the first line of its description."""

    revision: str
    title: str

    def __str__(self) -> str:
        return f"{self.revision} {self.title}".strip()


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def head_revision() -> str:
    """Return the revision this version of the gateway needs."""
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations under {MIGRATIONS}")
    return head


def current_revision(app: Flask) -> str | None:
    """Return the revision the app's database is at, None when it has no schema yet."""
    # Read Alembic's table directly: a MigrationContext would log at every command's start.
    with get_engine(app).connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def pending(app: Flask, revision: str = "head") -> list[Migration]:
    """Return the migrations the database lacks up to the revision, oldest first."""
    return _between(current_revision(app), revision)


def _between(current: str | None, target: str) -> list[Migration]:
    scripts = _scripts()
    steps = scripts.iterate_revisions(target, current or "base")
    return [
        Migration(script.revision, (script.doc or "").strip().splitlines()[0] if script.doc else "")
        for script in reversed(list(steps))
    ]


def require_current(app: Flask) -> None:
    """Refuse (DatabaseBehind) unless the app's database is at this version's schema."""
    current, head = current_revision(app), head_revision()
    if current == head:
        return
    if current is not None and _scripts().get_revision(current) is None:
        raise DatabaseBehind(
            f"The database is at {current}, which this version of the gateway does not know "
            f"(needs {head}): run the newer gateway that migrated it."
        )
    raise DatabaseBehind(
        f"The database is behind this version of the gateway (at {current or 'empty'}, "
        f"needs {head}): run `gateway db upgrade`."
    )


def upgrade(app: Flask, revision: str = "head") -> list[Migration]:
    """Bring the app's database schema up to the revision; return the migrations applied."""
    engine = get_engine(app)
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by copying it and dropping the old one: with foreign keys
            # enforced, that drop would delete every row pointing to it (ON DELETE CASCADE).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                before = MigrationContext.configure(connection).get_current_revision()
                applied = _between(before, revision)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} dangling references")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    return applied
