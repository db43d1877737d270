"""Use cases on the audit trail: record inside a transaction, checkpoint and verify the chain, list events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.services.permissions import IDENTIFYING_FIELDS, Actor, Permission, require
from ketaclinic.store.audit import (
    SEAL_ACTION,
    ChainReport,
    append_event,
    canonical_json,
    field_changes,
    head_checkpoint,
    unkeyed_seal,
    verify_chain,
    walk_chain,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.checkpoints import (
    Checkpoint,
    CheckpointFileError,
    append_checkpoint,
    locked,
    newest_checkpoint,
    read_checkpoints,
)
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent, AuditHead

__all__ = [
    "AuditRow",
    "audit",
    "checkpoint",
    "checkpoint_if_due",
    "field_changes",
    "list_events",
    "mask_identities",
    "new_values",
    "seal_unkeyed",
    "verify",
]


def audit(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int,
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
) -> None:
    """Record one event in the caller's transaction."""
    append_event(
        session,
        actor=actor.username,
        actor_role=actor.role_name,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=changes,
        reason=reason,
    )


def new_values(**values: Any) -> dict[str, dict[str, Any]]:
    """The changes of values recorded where there were none: {field: {"old": None, "new": value}}."""
    return {field: {"old": None, "new": value} for field, value in values.items()}


def verify(db: Database, checkpoints: Path | None = None) -> ChainReport:
    """Check the whole chain, and that every checkpoint in the `checkpoints` file is a prefix of it."""
    try:
        anchors = read_checkpoints(checkpoints) if checkpoints is not None else []
    except CheckpointFileError as damaged:
        return ChainReport(False, 0, None, str(damaged))
    with db.read() as session:
        return verify_chain(session, anchors)


def seal_unkeyed(db: Database, actor: Actor) -> int:
    """Seal the events written before the chain was keyed with one keyed event; its sequence number.

    The seal records the last unkeyed event's hash: from then on, rewriting any of them breaks the
    chain at the seal, which nobody without the key can re-seal. It proves them unchanged since the
    seal, not before, so it runs once, after the chain verified, and `audit verify` names it.
    """
    require(actor, Permission.AUDIT_VIEW)
    with db.transaction() as session:
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        keyed_from = head.keyed_from_seq
        if keyed_from == 1:
            raise ConflictError("every event of this chain is keyed: there is nothing to seal")
        if unkeyed_seal(session, keyed_from) is not None:
            raise ConflictError(f"events 1-{keyed_from - 1} are already sealed")
        report = walk_chain(session)
        if not report.ok:
            raise ConflictError(f"the chain does not verify, so it cannot be sealed: {report.problem}")
        last_unkeyed = session.execute(select(AuditEvent.hash).where(AuditEvent.seq == keyed_from - 1))
        return append_event(
            session,
            actor=actor.username,
            actor_role=actor.role_name,
            action=SEAL_ACTION,
            entity="audit_chain",
            entity_id=1,
            changes={"keyed_from_seq": keyed_from, "unkeyed_head_hash": last_unkeyed.scalar_one()},
            reason="events written before the chain was keyed, checked and sealed with the key",
        )


def checkpoint(db: Database, path: Path) -> Checkpoint:
    """Append the chain's head to the checkpoint file (a file, not a database write: nothing to audit)."""
    with db.read() as session:
        anchor = head_checkpoint(session, utcnow())
    append_checkpoint(path, anchor)
    return anchor


def checkpoint_if_due(
    db: Database, path: Path, *, interval_min: int, every_events: int, starting: bool = False
) -> Checkpoint | None:
    """Append the head to the checkpoint file when it is due; the checkpoint written, or None.

    Due when the head differs from the file's newest checkpoint and, unless `starting` (a server
    anchors the head before its first request), `interval_min` passed or `every_events` came since that
    checkpoint. Decided and appended under the file's lock against its newest line, whoever wrote it:
    the processes of `serve --workers N` write one checkpoint per due moment between them, in order.
    """
    with locked(path):
        last = newest_checkpoint(path)
        with db.read() as session:
            head = head_checkpoint(session, utcnow())
        if last is not None and (head.seq, head.hmac) == (last.seq, last.hmac):
            return None
        # A chain that moved on by fewer events waits for the interval; a shorter or rewritten one does not.
        if last is not None and not starting and last.seq < head.seq < last.seq + every_events:
            written = datetime.fromisoformat(last.time)
            if utcnow() - written < timedelta(minutes=interval_min):
                return None
        append_checkpoint(path, head)
        return head


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One event as shown to an administrator."""

    seq: int
    occurred_at: datetime
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    changes_json: str
    reason: str


MASK = "•••"


def mask_identities(changes_json: str) -> str:
    """The changes with every identifying field's values replaced by MASK (the field names stay)."""
    try:
        changes = json.loads(changes_json)
    except ValueError:
        return MASK  # not JSON: nothing can be said about what it holds
    return canonical_json(_masked(changes))


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _hidden(inner) if key in IDENTIFYING_FIELDS else _masked(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [_masked(inner) for inner in value]
    return value


def _hidden(value: Any) -> Any:
    """Keep the shape (old/new, null where nothing was) so the change is still visible as a change."""
    if isinstance(value, dict):
        return {key: _hidden(inner) for key, inner in value.items()}
    return None if value is None else MASK


def list_events(
    db: Database, actor: Actor, *, entity: str | None = None, entity_id: str | None = None, limit: int = 200
) -> list[AuditRow]:
    """The newest events, optionally for one record; the reading itself is audited.

    Identifying values inside the changes are masked unless the actor may see patients' identities.
    """
    require(actor, Permission.AUDIT_VIEW)
    reveal = actor.sees_identities
    with db.transaction() as session:
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if entity:
            query = query.where(AuditEvent.entity == entity)
        if entity_id:
            query = query.where(AuditEvent.entity_id == entity_id)
        rows = [
            AuditRow(
                e.seq,
                e.occurred_at,
                e.actor,
                e.actor_role,
                e.action,
                e.entity,
                e.entity_id,
                e.changes_json if reveal else mask_identities(e.changes_json),
                e.reason,
            )
            for e in session.execute(query).scalars()
        ]
        used = {"entity": entity, "entity_id": entity_id, "limit": limit, "identities_shown": reveal}
        audit(session, actor, "audit_view", "audit", "events", {"filter": {"old": None, "new": used}})
        return rows
