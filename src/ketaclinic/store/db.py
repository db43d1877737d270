"""Engine and transactions: SQLite (WAL, foreign keys, immediate write locks) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ketaclinic.errors import StaleVersionError
from ketaclinic.store.audit import AUDIT_KEY_INFO, audit_chain_key

if TYPE_CHECKING:
    from ketaclinic.settings import Settings

# Each session's info holds a weak reference to its Database, so code given only the session (a service
# publishing a live event) finds the handle's event hub.
DATABASE_INFO = "ketaclinic_database"


def make_engine(database_url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE.

    With `read_only`, SQLite transactions begin deferred: readers then run beside a writer (WAL).
    A database error never carries its bound parameters (patient values) into a message or a log.
    """
    kwargs.setdefault("hide_parameters", True)
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Driver-level autocommit so that SQLAlchemy's BEGIN below is the only one issued.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(connection: Any) -> None:
            # Take the write lock up front: a read-then-write transaction can otherwise fail with
            # SQLITE_BUSY_SNAPSHOT under concurrent charting, and the audit chain must be appended serially.
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


class Database:
    """The store handle a service receives: read sessions and write transactions."""

    def __init__(
        self, engine: Engine, read_engine: Engine | None = None, *, audit_key: bytes | None = None
    ) -> None:
        self.engine = engine
        self._read_engine = read_engine
        # The audit chain's key rides in each session's info, never in a table (store/audit.py).
        info: dict[str, object] = {DATABASE_INFO: weakref.ref(self)}
        if audit_key is not None:
            info[AUDIT_KEY_INFO] = audit_key
        self._sessions = sessionmaker(engine, expire_on_commit=False, info=info)
        self._read_sessions = sessionmaker(read_engine or engine, expire_on_commit=False, info=info)
        # SQLite has one writer at a time and its busy handler sleeps in growing steps while it waits;
        # queueing this process's writers on a lock instead keeps the latency tail short.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if engine.dialect.name == "sqlite" else None
        )

    @classmethod
    def from_url(cls, database_url: str, *, audit_key: bytes | None = None) -> Database:
        """Open a database by URL; writing audit events needs the chain key (`audit_chain_key`)."""
        read_engine = make_engine(database_url, read_only=True) if database_url.startswith("sqlite") else None
        return cls(make_engine(database_url), read_engine, audit_key=audit_key)

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """Open the installation's database with the audit chain key derived from its secret."""
        return cls.from_url(settings.database_url, audit_key=audit_chain_key(settings.secret_key))

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back whole on any error.

        A versioned row that another transaction wrote since this one read it (the compare-and-set
        UPDATE matched no row) rolls the whole unit back as StaleVersionError.
        """
        try:
            if self._write_lock is None:
                with self._sessions() as session, session.begin():
                    yield session
                return
            with self._write_lock, self._sessions() as session, session.begin():
                yield session
        except StaleDataError:
            raise StaleVersionError("record") from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work that does not wait for writers (do not write in it)."""
        with self._read_sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Round-trip one trivial query (raises when the database does not answer)."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()
