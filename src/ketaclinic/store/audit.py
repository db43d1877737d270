"""Append to and verify the keyed, hash-chained audit trail.

Each event's hash is an HMAC-SHA256, keyed by a key derived from the clinic's secret, over its
canonical fields and the previous event's hash: an event edited, deleted or inserted behind the
application's back breaks the chain at that event, and without the key nobody can re-seal it.
The key never enters the database; it reaches an append through the session's `info`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from ketaclinic.store.base import utcnow
from ketaclinic.store.checkpoints import Checkpoint
from ketaclinic.store.tables.audit import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64
SEAL_ACTION = "seal_unkeyed"  # the keyed event that anchors the events written before keying
AUDIT_KEY_INFO = "audit_key"  # where a Database puts the chain key in each session's `info`
_KEY_LABEL = b"ketaclinic audit chain v1"


class AuditKeyMissingError(RuntimeError):
    """A write reached the audit trail through a database opened without the chain key."""


def audit_chain_key(secret_key: str) -> bytes:
    """The chain's HMAC key: HMAC-SHA256(secret, a fixed label), so the secret itself is never used raw."""
    return hmac.new(secret_key.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def installation_id(key: bytes) -> str:
    """A public name for the installation that holds `key` (it reveals nothing of the key)."""
    return hmac.new(key, b"ketaclinic installation id", hashlib.sha256).hexdigest()[:16]


def session_key(session: Session) -> bytes:
    """The chain key the session's database was opened with."""
    key = session.info.get(AUDIT_KEY_INFO)
    if not isinstance(key, bytes):
        raise AuditKeyMissingError("the database was opened without the audit chain key (audit_key=)")
    return key


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces; dates and decimals as strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(
    key: bytes | None,
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
    """The HMAC-SHA256 that seals one event to its predecessor (`key=None`: the unkeyed v1 SHA-256)."""
    fields = [
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
    if key is None:
        return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()
    return seal(key, fields)


def seal(key: bytes, fields: Sequence[Any]) -> str:
    """The keyed HMAC-SHA256 over a record's canonical fields (its last field: the previous record's seal).

    The audit trail and the controlled-substance ledger are chained with this one function and key.
    """
    return hmac.new(key, canonical_json(list(fields)).encode("utf-8"), hashlib.sha256).hexdigest()


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
) -> int:
    """Append one event in the caller's transaction; its sequence number.

    The head row's lock, held until the transaction ends, keeps appends serial: a second writer, in this
    process or another, waits for it and then reads the head the first one left. Plain statements, not
    ORM objects: every write of the application passes here.
    """
    key = session_key(session)
    last_seq, last_hash = session.execute(_LOCK_HEAD).one()
    seq = int(last_seq) + 1
    occurred_at = utcnow()
    fields: dict[str, Any] = {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor": actor,
        "actor_role": actor_role,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "changes_json": canonical_json(dict(changes or {})),
        "reason": reason,
        "prev_hash": last_hash,
    }
    digest = event_hash(key, **fields)
    session.execute(_INSERT_EVENT, fields | {"hash": digest})
    session.execute(_MOVE_HEAD, {"seq": seq, "digest": digest})
    return seq


# Built once, on the tables (not the mapped classes): each append then only binds its values.
_HEAD = cast(Table, AuditHead.__table__)
_LOCK_HEAD = select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_EVENT = insert(cast(Table, AuditEvent.__table__))
_MOVE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(last_seq=bindparam("seq"), last_hash=bindparam("digest"))
)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a chain verification."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""
    checkpoints: int = 0
    note: str = ""


def _recomputed(event: AuditEvent, key: bytes | None) -> str:
    return event_hash(
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
        prev_hash=event.prev_hash,
    )


def _walk(
    session: Session, keyed_from_seq: int, key: bytes, wanted: set[int]
) -> tuple[ChainReport, dict[int, str]]:
    """Check every event in order; keep the hashes of the `wanted` sequence numbers."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    seen: dict[int, str] = {0: GENESIS_HASH}
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000))
    for event in rows.scalars():
        count = expected_seq - 1
        if event.seq != expected_seq:
            problem = f"event {expected_seq} is missing (next is {event.seq})"
            return ChainReport(False, count, expected_seq, problem), seen
        if event.prev_hash != prev_hash:
            problem = f"event {event.seq} does not follow event {event.seq - 1}"
            return ChainReport(False, count, event.seq, problem), seen
        keyed = event.seq >= keyed_from_seq
        if _recomputed(event, key if keyed else None) != event.hash:
            problem = (
                f"event {event.seq} was altered or not sealed with this clinic's key (HMAC mismatch)"
                if keyed
                else f"event {event.seq} was altered (its unkeyed v1 SHA-256 does not match)"
            )
            return ChainReport(False, count, event.seq, problem), seen
        if event.seq in wanted:
            seen[event.seq] = event.hash
        prev_hash = event.hash
        expected_seq += 1
    count = expected_seq - 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.last_seq != count or head.last_hash != prev_hash:
        first_bad = count + 1 if head.last_seq > count else head.last_seq
        problem = f"chain ends at event {count} but the head records event {head.last_seq}"
        return ChainReport(False, count, first_bad, problem), seen
    return ChainReport(True, count), seen


def walk_chain(session: Session) -> ChainReport:
    """Every event in order, each sealed to its predecessor and the head (no checkpoint, no seal)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    return _walk(session, head.keyed_from_seq, session_key(session), set())[0]


def verify_chain(session: Session, checkpoints: Sequence[Checkpoint] = ()) -> ChainReport:
    """Walk the chain in order, then hold it to every checkpoint; name the first thing that breaks."""
    key = session_key(session)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    report, seen = _walk(session, head.keyed_from_seq, key, {c.seq for c in checkpoints})
    if not report.ok:
        return report
    this_installation = installation_id(key)
    for number, checkpoint in enumerate(checkpoints, start=1):
        named = f"checkpoint {number} (event {checkpoint.seq}, written {checkpoint.time})"
        if checkpoint.installation != this_installation:
            problem = f"{named} belongs to installation {checkpoint.installation}, not {this_installation}"
            return ChainReport(False, report.events, None, problem, number)
        if checkpoint.seq > report.events:
            problem = (
                f"{named} is beyond the chain's end (event {report.events}): the tail was removed"
                " or an older copy of the database was restored"
            )
            return ChainReport(False, report.events, report.events + 1, problem, number)
        if seen.get(checkpoint.seq) != checkpoint.hmac:
            problem = f"{named} does not match the chain: event {checkpoint.seq} was rewritten"
            return ChainReport(False, report.events, checkpoint.seq, problem, number)
    if head.keyed_from_seq > 1:
        return _unkeyed_prefix(session, head.keyed_from_seq, report, len(checkpoints))
    return ChainReport(True, report.events, checkpoints=len(checkpoints))


def unkeyed_seal(session: Session, keyed_from_seq: int) -> AuditEvent | None:
    """The keyed event that sealed events 1 to `keyed_from_seq - 1`, when one was written."""
    prefix_head = session.execute(
        select(AuditEvent.hash).where(AuditEvent.seq == keyed_from_seq - 1)
    ).scalar_one_or_none()
    seals = session.execute(
        select(AuditEvent)
        .where(AuditEvent.action == SEAL_ACTION, AuditEvent.seq >= keyed_from_seq)
        .order_by(AuditEvent.seq)
    ).scalars()
    for seal in seals:
        sealed = json.loads(seal.changes_json)
        if sealed.get("keyed_from_seq") == keyed_from_seq and sealed.get("unkeyed_head_hash") == prefix_head:
            return seal
    return None


def _unkeyed_prefix(
    session: Session, keyed_from_seq: int, report: ChainReport, checkpoints: int
) -> ChainReport:
    """Events written before keying pass once a keyed seal records their last hash, and say so."""
    span = f"events 1-{keyed_from_seq - 1}"
    seal = unkeyed_seal(session, keyed_from_seq)
    if seal is None:
        problem = (
            f"{span} were written unkeyed (chain v1, plain SHA-256) and no keyed event seals them:"
            " run `ketaclinic audit seal-unkeyed` once, after checking them"
        )
        return ChainReport(False, report.events, 1, problem, checkpoints)
    note = (
        f"{span} were written before the chain was keyed; keyed event {seal.seq} sealed them on"
        f" {seal.occurred_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, so they are proven unchanged since then"
    )
    return ChainReport(True, report.events, checkpoints=checkpoints, note=note)


def head_checkpoint(session: Session, at: datetime) -> Checkpoint:
    """The chain's head as a checkpoint of this installation (the head as committed, not re-verified)."""
    key = session_key(session)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    return Checkpoint(
        seq=head.last_seq,
        hmac=head.last_hash,
        time=at.astimezone(UTC).isoformat(timespec="seconds"),
        installation=installation_id(key),
    )


def count_events(session: Session) -> int:
    """How many audit events exist."""
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
