"""Audit rows are append-only from the application: no change, no delete, bulk or not."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from gateway.desk import audit
from gateway.desk.audit import AuditAppendOnly
from gateway.storage.db import session_scope
from gateway.storage.models import AuditEntry, User
from tests.desk.conftest import UserFactory, login


def test_an_audit_row_cannot_be_changed_or_deleted_by_the_application(
    desk_app: Flask, make_user: UserFactory
) -> None:
    make_user("cp@example.org", "child_protection", ["CF52"])
    login(desk_app.test_client(), "cp@example.org")  # writes a "login" row
    with session_scope(desk_app) as db:
        [entry] = db.scalars(select(AuditEntry)).all()
        entry.action = "nothing happened"
        with pytest.raises(AuditAppendOnly):
            db.flush()
        db.rollback()
        entry = db.scalars(select(AuditEntry)).one()
        db.delete(entry)
        with pytest.raises(AuditAppendOnly):
            db.flush()
        db.rollback()
        with pytest.raises(AuditAppendOnly):
            db.execute(update(AuditEntry).values(action="nothing happened"))
        with pytest.raises(AuditAppendOnly):
            db.execute(delete(AuditEntry))
        db.rollback()
        # Adding stays possible: the trail only grows.
        user = db.scalars(select(User)).one()
        audit.record(db, user, "view")
        db.commit()
    with session_scope(desk_app) as db:
        assert db.scalar(select(func.count(AuditEntry.id))) == 2
        assert {e.action for e in db.scalars(select(AuditEntry))} == {"login", "view"}
