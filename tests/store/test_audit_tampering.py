"""An insider with database access but not the clinic's key cannot make a tampered trail verify.

Each case starts from a fresh database (SQLite, and PostgreSQL when configured), tampers the way
an insider would, and expects `verify` to name the event or the checkpoint that breaks.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.services.audit import audit, checkpoint, checkpoint_if_due, verify
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.audit import (
    GENESIS_HASH,
    AuditKeyMissingError,
    audit_chain_key,
    event_hash,
    installation_id,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.checkpoints import Checkpoint, append_checkpoint, read_checkpoints
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests.audit_support import behind_the_apps_back, fill_chain
from tests.conftest import TEST_AUDIT_KEY, database_url


def _events(db: Database) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def _reseal(db: Database, key: bytes | None, from_seq: int) -> None:
    """Recompute every hash from `from_seq` on with the application's own code and `key`, head too."""
    events = _events(db)
    prev = events[from_seq - 2].hash if from_seq > 1 else GENESIS_HASH
    for event in events[from_seq - 1 :]:
        digest = event_hash(
            key,
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor=event.actor,
            actor_role=event.actor_role,
            action=event.action,
            entity=event.entity,
            entity_id=event.entity_id,
            changes_json=event.changes_json,
            reason=event.reason,
            prev_hash=prev,
        )
        behind_the_apps_back(
            db,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=event.seq,
        )
        prev = digest
    behind_the_apps_back(db, "UPDATE audit_head SET last_hash = :h", h=prev)


def test_forged_append_is_named(db: Database) -> None:
    fill_chain(db, 3)
    head = _events(db)[-1]
    forged = event_hash(
        None,
        seq=4,
        occurred_at=utcnow(),
        actor="mallory",
        actor_role="admin",
        action="update",
        entity="thing",
        entity_id="9",
        changes_json="{}",
        reason="",
        prev_hash=head.hash,
    )
    behind_the_apps_back(
        db,
        "INSERT INTO audit_events (seq, occurred_at, actor, actor_role, action, entity, entity_id,"
        " changes_json, reason, prev_hash, hash) VALUES (4, :at, 'mallory', 'admin', 'update', 'thing', '9',"
        " '{}', '', :prev, :h)",
        at=utcnow(),
        prev=head.hash,
        h=forged,
    )
    behind_the_apps_back(db, "UPDATE audit_head SET last_seq = 4, last_hash = :h", h=forged)
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "HMAC" in report.problem


@pytest.mark.parametrize("key", [None, audit_chain_key("a guessed secret")], ids=["unkeyed", "wrong-key"])
def test_edit_then_rehash_without_the_key_is_named(db: Database, key: bytes | None) -> None:
    fill_chain(db, 5)
    behind_the_apps_back(db, "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 2")
    _reseal(db, key, 2)
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 2


def test_truncated_tail_with_head_updated_fails_against_the_checkpoint(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 5)
    checkpoint(db, anchors)
    third = _events(db)[2]
    behind_the_apps_back(db, "DELETE FROM audit_events WHERE seq > 3")
    behind_the_apps_back(db, "UPDATE audit_head SET last_seq = 3, last_hash = :h", h=third.hash)
    assert verify(db).ok, "without an anchor outside the database the truncation is invisible"
    report = verify(db, anchors)
    assert not report.ok
    assert "checkpoint 1 (event 5" in report.problem
    assert "beyond the chain's end (event 3)" in report.problem


def test_deleting_everything_fails_against_the_checkpoint(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 4)
    checkpoint(db, anchors)
    behind_the_apps_back(db, "DELETE FROM audit_events")
    behind_the_apps_back(db, "UPDATE audit_head SET last_seq = 0, last_hash = :h", h=GENESIS_HASH)
    report = verify(db, anchors)
    assert not report.ok
    assert report.events == 0
    assert "checkpoint 1 (event 4" in report.problem


def test_tables_copied_from_another_installation_fail(db: Database) -> None:
    other = Database.from_url(database_url(db), audit_key=audit_chain_key("another clinic's secret"))
    try:
        for i in range(3):
            with other.transaction() as session:
                audit(session, SYSTEM, "update", "thing", i, {"value": {"old": i, "new": i + 1}})
        assert verify(other).ok
    finally:
        other.dispose()
    report = verify(db)
    assert not report.ok
    assert report.first_bad_seq == 1


def test_restored_older_database_fails_against_a_later_checkpoint(db: Database, tmp_path: Path) -> None:
    from ketaclinic.store.backup import backup, restore

    if db.dialect == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("the PostgreSQL client (pg_dump) is not installed")
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 3)
    older = tmp_path / "older.backup"
    backup(db, older)
    fill_chain(db, 3)
    checkpoint(db, anchors)
    restore(db, older, force=True)
    report = verify(db, anchors)
    assert not report.ok
    assert report.events == 3
    assert "checkpoint 1 (event 6" in report.problem
    assert "older copy of the database was restored" in report.problem


def test_rewritten_event_behind_a_checkpoint_is_named(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 3)
    checkpoint(db, anchors)
    fill_chain(db, 2)
    assert verify(db, anchors).ok
    # Even a rewrite that re-seals with the right key (a stolen key) no longer matches the checkpoint.
    behind_the_apps_back(db, "UPDATE audit_events SET reason = 'x' WHERE seq = 3")
    _reseal(db, TEST_AUDIT_KEY, 3)
    report = verify(db, anchors)
    assert not report.ok
    assert "checkpoint 1 (event 3" in report.problem and "rewritten" in report.problem


def test_checkpoint_of_another_installation_is_named(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 2)
    stranger = installation_id(audit_chain_key("elsewhere"))
    append_checkpoint(
        anchors,
        Checkpoint(seq=2, hmac=_events(db)[-1].hash, time="2026-01-01T00:00:00+00:00", installation=stranger),
    )
    report = verify(db, anchors)
    assert not report.ok
    assert stranger in report.problem


def test_unkeyed_chain_is_reported_as_unkeyed(db: Database) -> None:
    fill_chain(db, 3)
    _reseal(db, None, 1)
    behind_the_apps_back(db, "UPDATE audit_head SET keyed_from_seq = 4")
    report = verify(db)
    assert not report.ok
    assert "events 1-3 were written unkeyed" in report.problem
    fill_chain(db, 1)  # later events are keyed and chained to the unkeyed tail
    assert "events 1-3 were written unkeyed" in verify(db).problem  # no keyed seal names them


def test_intact_chain_verifies_against_its_checkpoints(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    checkpoint(db, anchors)
    fill_chain(db, 2)
    checkpoint(db, anchors)
    fill_chain(db, 2)
    report = verify(db, anchors)
    assert report.ok and report.events == 4 and report.checkpoints == 2
    assert [c.seq for c in read_checkpoints(anchors)] == [0, 2]


def test_a_database_opened_without_the_key_cannot_append(db: Database) -> None:
    keyless = Database.from_url(database_url(db))
    try:
        with pytest.raises(AuditKeyMissingError), keyless.transaction() as session:
            audit(session, SYSTEM, "update", "thing", 1)
    finally:
        keyless.dispose()


def test_checkpoint_is_due_after_the_interval_or_enough_events(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    first = checkpoint_if_due(db, anchors, interval_min=60, every_events=3)
    assert first is not None and first.seq == 0
    assert checkpoint_if_due(db, anchors, interval_min=60, every_events=3) is None, "head did not move"
    fill_chain(db, 2)
    assert checkpoint_if_due(db, anchors, interval_min=60, every_events=3) is None, "too soon, too few"
    fill_chain(db, 1)
    by_count = checkpoint_if_due(db, anchors, interval_min=60, every_events=3)
    assert by_count is not None and by_count.seq == 3
    fill_chain(db, 1)
    # The schedule reads the file's newest line, whoever wrote it: one dated an hour ago makes it due.
    an_hour_ago = replace(by_count, time=(utcnow() - timedelta(minutes=61)).isoformat(timespec="seconds"))
    append_checkpoint(anchors, an_hour_ago)
    by_time = checkpoint_if_due(db, anchors, interval_min=60, every_events=3)
    assert by_time is not None and by_time.seq == 4
    assert [c.seq for c in read_checkpoints(anchors)] == [0, 3, 3, 4]
    assert verify(db, anchors).ok


def test_a_starting_server_anchors_a_moved_head_at_once_and_an_unmoved_one_not_again(
    db: Database, tmp_path: Path
) -> None:
    anchors = tmp_path / "audit-checkpoints"
    assert checkpoint_if_due(db, anchors, interval_min=60, every_events=1000, starting=True) is not None
    assert checkpoint_if_due(db, anchors, interval_min=60, every_events=1000, starting=True) is None
    fill_chain(db, 1)
    assert checkpoint_if_due(db, anchors, interval_min=60, every_events=1000) is None, "not due yet"
    moved = checkpoint_if_due(db, anchors, interval_min=60, every_events=1000, starting=True)
    assert moved is not None and moved.seq == 1
    assert [c.seq for c in read_checkpoints(anchors)] == [0, 1]


def test_processes_polling_at_once_write_one_checkpoint_between_them(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    fill_chain(db, 2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(
            pool.map(
                lambda _: checkpoint_if_due(db, anchors, interval_min=60, every_events=1000, starting=True),
                range(8),
            )
        )
    assert sum(c is not None for c in written) == 1
    assert [c.seq for c in read_checkpoints(anchors)] == [2]


def test_a_damaged_checkpoint_file_is_named(db: Database, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-checkpoints"
    checkpoint(db, anchors)
    with anchors.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    report = verify(db, anchors)
    assert not report.ok
    assert f"{anchors} line 2 is not a checkpoint" in report.problem
