"""Reading the audit trail back in tests."""

from __future__ import annotations

from sqlalchemy import select, text

from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent


def latest_event(db: Database, entity: str) -> AuditEvent:
    """The newest audit event on records of `entity`."""
    with db.read() as session:
        event = (
            session.execute(
                select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
    assert event is not None, f"no audit event on {entity}"
    return event


def fill_chain(db: Database, n: int) -> None:
    """Append `n` events, one transaction each, through the application's own audit call."""
    for i in range(n):
        with db.transaction() as session:
            audit(
                session, SYSTEM, "update", "thing", i, {"value": {"old": i, "new": i + 1}}, reason=f"step {i}"
            )


def behind_the_apps_back(db: Database, sql: str, **params: object) -> None:
    """Raw SQL with the append-only guard switched off, as an insider with database access would."""
    with db.engine.begin() as connection:
        if db.dialect == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(sql), params)
