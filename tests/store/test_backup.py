"""`backup` copies a consistent database while the clinic writes; `restore` brings it back verified."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.services.audit import verify
from ketaclinic.store.audit import count_events
from ketaclinic.store.backup import backup, is_empty, restore
from ketaclinic.store.db import Database
from tests.audit_support import fill_chain
from tests.conftest import TEST_AUDIT_KEY, open_test_database


def _need_client(db: Database) -> None:
    if db.dialect == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("the PostgreSQL client (pg_dump) is not installed")


def _events(db: Database) -> int:
    with db.read() as session:
        return count_events(session)


def _sqlite_file_events(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM audit_events").fetchone()[0])


@pytest.fixture
def empty_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A second, freshly migrated SQLite database to restore into."""
    folder = tmp_path / "target"
    folder.mkdir()
    with open_test_database(request, "sqlite", folder) as database:
        yield database


def test_backup_and_restore_round_trip_verifies(db: Database, tmp_path: Path) -> None:
    _need_client(db)
    fill_chain(db, 5)
    target = tmp_path / "clinic.backup"
    backup(db, target)
    fill_chain(db, 2)  # written after the backup: the restore takes the database back before them
    restore(db, target, force=True)
    report = verify(db)
    assert report.ok and report.events == 5


def test_restore_refuses_a_database_that_holds_records(db: Database, tmp_path: Path) -> None:
    _need_client(db)
    fill_chain(db, 1)
    target = tmp_path / "clinic.backup"
    backup(db, target)
    assert not is_empty(db)
    with pytest.raises(ConflictError, match="--force"):
        restore(db, target)
    assert _events(db) == 1


def test_backup_refuses_to_overwrite_a_file(db: Database, tmp_path: Path) -> None:
    target = tmp_path / "clinic.backup"
    target.write_text("an older backup")
    with pytest.raises(ConflictError, match="already exists"):
        backup(db, target)
    assert target.read_text() == "an older backup"


def test_sqlite_restore_into_an_empty_database(
    sqlite_db: Database, empty_sqlite: Database, tmp_path: Path
) -> None:
    fill_chain(sqlite_db, 4)
    target = tmp_path / "clinic.backup"
    backup(sqlite_db, target)
    assert is_empty(empty_sqlite)
    restore(empty_sqlite, target)
    restored = Database.from_url(str(empty_sqlite.engine.url), audit_key=TEST_AUDIT_KEY)
    try:
        assert verify(restored).events == 4 and verify(restored).ok
    finally:
        restored.dispose()


def test_sqlite_restore_refuses_a_file_that_is_not_a_backup(sqlite_db: Database, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database " * 100)
    with pytest.raises(InputError, match="not a SQLite backup"):
        restore(sqlite_db, junk)


def test_backup_during_concurrent_writes_loses_no_committed_event(
    sqlite_db: Database, tmp_path: Path
) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                fill_chain(sqlite_db, 1)
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while _events(sqlite_db) < 50:
            pass
        committed_before = _events(sqlite_db)
        target = tmp_path / "live.backup"
        backup(sqlite_db, target)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert errors == []
    copy = Database.from_url(f"sqlite:///{target}", audit_key=TEST_AUDIT_KEY)
    try:
        report = verify(copy)
    finally:
        copy.dispose()
    assert report.ok, report.problem
    assert report.events >= committed_before


def test_a_plain_copy_of_a_live_sqlite_file_misses_committed_events(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """What docs/security.md warns against: the newest commits sit in the -wal file, not the main file."""
    fill_chain(sqlite_db, 5)
    live = Path(str(sqlite_db.engine.url.database))
    copied = tmp_path / "copied.db"
    shutil.copy(live, copied)
    assert _events(sqlite_db) == 5
    assert _sqlite_file_events(copied) < 5


def test_postgresql_without_its_client_gets_a_clear_message(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the PostgreSQL client is only needed for PostgreSQL")
    monkeypatch.setattr("ketaclinic.store.backup.shutil.which", lambda _name: None)
    with pytest.raises(ConflictError, match="pg_dump is not installed: install the PostgreSQL client"):
        backup(db, tmp_path / "clinic.backup")
    assert not (tmp_path / "clinic.backup").exists()
