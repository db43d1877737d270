"""Backups that restore: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore.

A plain file copy of a live SQLite database can miss the write-ahead log or catch a page mid-write;
the backup API copies one consistent snapshot while the clinic keeps charting.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import URL

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.store.base import Base
from ketaclinic.store.db import Database
from ketaclinic.store.tables import load_all

# Rows a freshly migrated, never used database already holds.
BOOKKEEPING_TABLES = frozenset({"audit_head", "ledger_head", "alembic_version"})


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise InputError("an in-memory SQLite database cannot be backed up", field="KETACLINIC_DATABASE_URL")
    return Path(url.database)


def _libpq(url: URL) -> tuple[str, list[str]]:
    """The URL as pg_dump/pg_restore take it (no password), and `--schema` when it pins a search_path."""
    given = url.query.get("options") or ()
    schema_args: list[str] = []
    for value in [given] if isinstance(given, str) else given:
        if value.startswith("-csearch_path="):
            schema_args = ["--schema", value.removeprefix("-csearch_path=")]
    plain = url.set(drivername="postgresql", password=None).difference_update_query(["options"])
    return plain.render_as_string(hide_password=False), schema_args


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConflictError(
            f"{name} is not installed: install the PostgreSQL client (Debian: postgresql-client) to back up"
            " or restore a PostgreSQL database",
            field=name,
        )
    return found


def _run(argv: list[str], url: URL) -> None:
    # The password goes in the environment, not the command line other users can read in `ps`.
    env = os.environ | ({"PGPASSWORD": url.password} if url.password else {})
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConflictError(f"{Path(argv[0]).name} failed: {last}")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def backup(db: Database, target: Path) -> None:
    """Write a consistent copy of the whole database to `target` (which must not exist yet)."""
    if target.exists():
        raise ConflictError(f"{target} already exists: choose a new file", field="FILE")
    if not target.parent.is_dir():
        raise InputError(f"the folder {target.parent} does not exist", field="FILE")
    if not os.access(target.parent, os.W_OK):
        raise InputError(f"the folder {target.parent} is not writable", field="FILE")
    url = db.engine.url
    partial = target.with_name(target.name + ".partial")
    if db.dialect == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: a single consistent snapshot, writers carry on (WAL)
        finally:
            copy.close()
            source.close()
    else:
        dsn, schema = _libpq(url)
        dump = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", *schema, "--file", str(partial), dsn]
        _run(dump, url)
    _fsync(partial)
    partial.replace(target)


def is_empty(db: Database) -> bool:
    """True when no table of the application holds a record (a new or freshly migrated database)."""
    load_all()
    present = set(inspect(db.engine).get_table_names())
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name not in present or table.name in BOOKKEEPING_TABLES:
                continue
            if connection.execute(select(func.count()).select_from(table)).scalar_one():
                return False
    return True


def restore(db: Database, source: Path, *, force: bool = False) -> None:
    """Replace the database's contents with the backup in `source`; a database in use only with `force`."""
    if not source.is_file():
        raise InputError(f"{source} is not a backup file", field="FILE")
    if not force and not is_empty(db):
        raise ConflictError(
            "the database holds records: restore into an empty one, or give --force", field="--force"
        )
    url = db.engine.url
    db.dispose()
    if db.dialect == "sqlite":
        backup_file = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(_sqlite_path(url))
        try:
            if backup_file.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise InputError(f"{source} is not an intact SQLite backup", field="FILE")
            backup_file.backup(live)
        except sqlite3.DatabaseError as error:
            raise InputError(f"{source} is not a SQLite backup ({error})", field="FILE") from None
        finally:
            live.close()
            backup_file.close()
        return
    dsn, schema = _libpq(url)
    _run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            *schema,
            "--dbname",
            dsn,
            str(source),
        ],
        url,
    )
