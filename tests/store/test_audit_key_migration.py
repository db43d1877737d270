"""Migration 0007 keys the chain from here on and marks the events an older database already holds."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from ketaclinic.services.audit import verify
from ketaclinic.store.audit import GENESIS_HASH, event_hash
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from tests.audit_support import fill_chain


def _v1_events(db: Database, n: int) -> None:
    """Events as the unkeyed (v1) chain wrote them: plain SHA-256."""
    prev = GENESIS_HASH
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    with db.engine.begin() as connection:
        for seq in range(1, n + 1):
            fields = {"actor": "nurse", "role": "nurse", "changes": "{}", "reason": ""}
            digest = event_hash(
                None,
                seq=seq,
                occurred_at=at,
                actor="nurse",
                actor_role="nurse",
                action="update",
                entity="thing",
                entity_id=str(seq),
                changes_json="{}",
                reason="",
                prev_hash=prev,
            )
            connection.execute(
                text(
                    "INSERT INTO audit_events (seq, occurred_at, actor, actor_role, action, entity,"
                    " entity_id, changes_json, reason, prev_hash, hash) VALUES (:seq, :at, :actor, :role,"
                    " 'update', 'thing', :id, :changes, :reason, :prev, :hash)"
                ),
                {**fields, "seq": seq, "at": at, "id": str(seq), "prev": prev, "hash": digest},
            )
            prev = digest
        connection.execute(text("UPDATE audit_head SET last_seq = :n, last_hash = :h"), {"n": n, "h": prev})


def test_an_older_unkeyed_chain_is_marked_and_reported(db: Database) -> None:
    command.downgrade(alembic_config(db.engine), "0006_alert_escalation")
    _v1_events(db, 3)
    upgrade(db.engine)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT keyed_from_seq FROM audit_head")).scalar_one() == 4
    report = verify(db)
    assert not report.ok
    assert report.events == 3, report.problem
    assert "events 1-3 were written unkeyed" in report.problem
    fill_chain(db, 1)  # the next event is keyed, chained to the unkeyed tail
    assert verify(db).events == 4


def test_a_new_database_is_keyed_from_the_first_event(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT keyed_from_seq FROM audit_head")).scalar_one() == 1
    fill_chain(db, 2)
    assert verify(db).ok
