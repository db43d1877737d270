"""Reading the audit trail back in tests."""

from __future__ import annotations

from sqlalchemy import select

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
