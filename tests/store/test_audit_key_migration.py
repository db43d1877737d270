"""Migration 0007 keys the chain from here on and marks the events an older database already holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from ketaclinic.errors import ConflictError
from ketaclinic.services.audit import seal_unkeyed, verify
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.audit import GENESIS_HASH, event_hash
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from tests.audit_support import behind_the_apps_back, fill_chain


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
    assert "ketaclinic audit seal-unkeyed" in report.problem
    fill_chain(db, 1)  # the next event is keyed, chained to the unkeyed tail
    assert verify(db).events == 4
    assert seal_unkeyed(db, SYSTEM) == 5
    sealed = verify(db)
    assert sealed.ok and sealed.events == 5
    assert "events 1-3 were written before the chain was keyed; keyed event 5 sealed them" in sealed.note
    with pytest.raises(ConflictError, match="already sealed"):
        seal_unkeyed(db, SYSTEM)


def _sealed_v1_chain(db: Database) -> None:
    command.downgrade(alembic_config(db.engine), "0006_alert_escalation")
    _v1_events(db, 3)
    upgrade(db.engine)
    seal_unkeyed(db, SYSTEM)


def test_a_sealed_unkeyed_event_rewritten_later_breaks_the_chain_at_the_seal(db: Database) -> None:
    _sealed_v1_chain(db)
    with db.engine.connect() as connection:
        first = connection.execute(text("SELECT hash FROM audit_events WHERE seq = 1")).scalar_one()
        second = connection.execute(text("SELECT occurred_at FROM audit_events WHERE seq = 2")).scalar_one()
    prev = first
    for seq in (2, 3):  # event 2 now says "delete"; 2 and 3 re-sealed with plain SHA-256, as anyone could
        digest = event_hash(
            None,
            seq=seq,
            occurred_at=datetime.fromisoformat(str(second)).replace(tzinfo=UTC),
            actor="nurse",
            actor_role="nurse",
            action="delete" if seq == 2 else "update",
            entity="thing",
            entity_id=str(seq),
            changes_json="{}",
            reason="",
            prev_hash=prev,
        )
        behind_the_apps_back(
            db,
            "UPDATE audit_events SET action = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a="delete" if seq == 2 else "update",
            p=prev,
            h=digest,
            s=seq,
        )
        prev = digest
    report = verify(db)
    assert not report.ok and report.first_bad_seq == 4
    assert "event 4 does not follow event 3" in report.problem


def test_moving_the_keyed_boundary_cannot_borrow_the_seal(db: Database) -> None:
    _sealed_v1_chain(db)
    fill_chain(db, 2)
    behind_the_apps_back(db, "UPDATE audit_head SET keyed_from_seq = 7")  # "events 4-6 were unkeyed too"
    assert not verify(db).ok


def test_a_chain_keyed_from_its_first_event_has_nothing_to_seal(db: Database) -> None:
    fill_chain(db, 1)
    with pytest.raises(ConflictError, match="nothing to seal"):
        seal_unkeyed(db, SYSTEM)


def test_a_broken_unkeyed_chain_is_not_sealed(db: Database) -> None:
    command.downgrade(alembic_config(db.engine), "0006_alert_escalation")
    _v1_events(db, 3)
    upgrade(db.engine)
    behind_the_apps_back(db, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 2")
    with pytest.raises(ConflictError, match="cannot be sealed: event 2 was altered"):
        seal_unkeyed(db, SYSTEM)


def test_a_new_database_is_keyed_from_the_first_event(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT keyed_from_seq FROM audit_head")).scalar_one() == 1
    fill_chain(db, 2)
    assert verify(db).ok
