"""Append to and verify the hash-chained audit trail.

Each event's hash is SHA-256 over its canonical fields and the previous event's hash, so an event
edited, deleted or inserted behind the application's back breaks the chain at that event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.store.base import utcnow
from ketaclinic.store.tables.audit import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces; dates and decimals as strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(
    *,
    seq: int,
    occurred_at: datetime,
    actor: str,
    actor_role: str,
    action: str,
    entity: str,
    entity_id: str,
    changes_json: str,
    reason: str,
    prev_hash: str,
) -> str:
    """The SHA-256 that seals one event to its predecessor."""
    payload = canonical_json(
        [
            seq,
            occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor,
            actor_role,
            action,
            entity,
            entity_id,
            changes_json,
            reason,
            prev_hash,
        ]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def field_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Field-level {field: {"old", "new"}} for the fields whose value differs."""
    before = dict(old or {})
    after = dict(new or {})
    changed: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        if canonical_json(before.get(key)) != canonical_json(after.get(key)):
            changed[key] = {"old": before.get(key), "new": after.get(key)}
    return changed


def append_event(
    session: Session,
    *,
    actor: str,
    actor_role: str,
    action: str,
    entity: str,
    entity_id: str | int,
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event in the caller's transaction (the head row lock keeps appends serial)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    seq = head.last_seq + 1
    occurred_at = utcnow()
    changes_json = canonical_json(dict(changes or {}))
    digest = event_hash(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        actor_role=actor_role,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes_json=changes_json,
        reason=reason,
        prev_hash=head.last_hash,
    )
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        actor_role=actor_role,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes_json=changes_json,
        reason=reason,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(event)
    head.last_seq = seq
    head.last_hash = digest
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a chain verification."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain in order and name the first event that breaks it."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000))
    for event in rows.scalars():
        if event.seq != expected_seq:
            return ChainReport(
                False, count, expected_seq, f"event {expected_seq} is missing (next is {event.seq})"
            )
        if event.prev_hash != prev_hash:
            return ChainReport(
                False, count, event.seq, f"event {event.seq} does not follow event {event.seq - 1}"
            )
        recomputed = event_hash(
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor=event.actor,
            actor_role=event.actor_role,
            action=event.action,
            entity=event.entity,
            entity_id=event.entity_id,
            changes_json=event.changes_json,
            reason=event.reason,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return ChainReport(False, count, event.seq, f"event {event.seq} was altered (hash mismatch)")
        prev_hash = event.hash
        expected_seq += 1
        count += 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.last_seq != count or head.last_hash != prev_hash:
        return ChainReport(
            False,
            count,
            count + 1 if head.last_seq > count else head.last_seq,
            f"chain ends at event {count} but the head records event {head.last_seq}",
        )
    return ChainReport(True, count)


def count_events(session: Session) -> int:
    """How many audit events exist."""
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
