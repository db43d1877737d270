"""The audit trail is append-only at the database level and its hash chain names the first tampered event."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ketaclinic.services.audit import audit, verify
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.db import Database
from tests.audit_support import behind_the_apps_back, fill_chain


def test_empty_chain_verifies(db: Database) -> None:
    report = verify(db)
    assert report.ok and report.events == 0


def test_chain_of_events_verifies(db: Database) -> None:
    fill_chain(db, 5)
    report = verify(db)
    assert report.ok
    assert report.events == 5


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events"])
def test_database_refuses_update_and_delete(db: Database, statement: str) -> None:
    fill_chain(db, 2)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert verify(db).ok


def test_edited_event_is_named(db: Database) -> None:
    fill_chain(db, 5)
    behind_the_apps_back(db, "UPDATE audit_events SET changes_json = '{}' WHERE seq = 3")
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "altered" in report.problem


def test_deleted_event_is_named(db: Database) -> None:
    fill_chain(db, 5)
    behind_the_apps_back(db, "DELETE FROM audit_events WHERE seq = 2")
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 2


def test_deleted_last_event_is_detected_by_the_head(db: Database) -> None:
    fill_chain(db, 4)
    behind_the_apps_back(db, "DELETE FROM audit_events WHERE seq = 4")
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 4


def test_inserted_event_is_named(db: Database) -> None:
    fill_chain(db, 3)
    behind_the_apps_back(
        db,
        "INSERT INTO audit_events (seq, occurred_at, actor, actor_role, action, entity, entity_id,"
        " changes_json, reason, prev_hash, hash)"
        " VALUES (4, :at, 'mallory', 'admin', 'update', 'thing', '9', '{}', '', :prev, :h)",
        at="2026-01-01 00:00:00",
        prev="f" * 64,
        h="e" * 64,
    )
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 4


def test_rolled_back_write_leaves_no_event(db: Database) -> None:
    fill_chain(db, 1)
    with pytest.raises(RuntimeError), db.transaction() as session:
        audit(session, SYSTEM, "create", "thing", 99)
        raise RuntimeError("failure after the audit row")
    report = verify(db)
    assert report.ok and report.events == 1
