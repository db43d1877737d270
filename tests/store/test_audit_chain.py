"""The audit trail is append-only at the database level and its hash chain names the first tampered event."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ketaclinic.services.audit import audit, verify
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests.audit_support import behind_the_apps_back, fill_chain
from tests.conftest import TEST_SECRET_KEY, database_url


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


_APPENDER = """
import sys
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.audit import audit_chain_key
from ketaclinic.store.db import Database

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Database.from_url(url, audit_key=audit_chain_key(sys.argv[4]))
for i in range(count):
    with db.transaction() as session:
        audit(session, SYSTEM, "update", name, i, {"value": {"old": i, "new": i + 1}})
db.dispose()
"""


def test_two_processes_appending_at_once_keep_one_serial_chain(db: Database, tmp_path: Path) -> None:
    fill_chain(db, 1)
    url = database_url(db)
    count = 60
    appenders = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, url, name, str(count), TEST_SECRET_KEY])
        for name in ("server_a", "server_b")
    ]
    assert [p.wait(timeout=120) for p in appenders] == [0, 0]
    report = verify(db)
    assert report.ok, report.problem
    assert report.events == 1 + 2 * count
    with db.read() as session:
        entities = session.execute(select(AuditEvent.entity).order_by(AuditEvent.seq)).scalars().all()
    assert entities.count("server_a") == entities.count("server_b") == count
    # `audit verify` as a user runs it, against the same database and key.
    env = os.environ | {
        "KETACLINIC_DATABASE_URL": url,
        "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY,
        "KETACLINIC_VAR_DIR": str(tmp_path),
    }
    checked = subprocess.run(
        [sys.executable, "-m", "ketaclinic", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok: {1 + 2 * count} events")
