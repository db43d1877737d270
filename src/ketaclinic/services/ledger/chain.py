"""Append to and verify the ledger's keyed chain: each entry sealed to the one before it with the audit key.

The seal is the audit trail's (store.audit.seal, keyed by the same clinic key); a row edited, removed
or inserted behind the application's back breaks the chain at that entry.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.ledger import EntryKind, StockKey
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.audit import GENESIS_HASH, canonical_json, seal, session_key
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerBalance, LedgerEntry, LedgerHead

_LABEL = "ketaclinic ledger v1"  # keeps a ledger seal from ever matching an audit event's


def entry_seal(key: bytes, entry: LedgerEntry) -> str:
    """The HMAC that seals one entry to its predecessor."""
    return seal(
        key,
        [
            _LABEL,
            entry.seq,
            entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            entry.kind,
            entry.product_id,
            entry.lot,
            entry.location_id,
            entry.container_id,
            entry.quantity_ul,
            entry.stock_delta_ul,
            entry.balance_after_ul,
            entry.session_id,
            entry.patient_id,
            entry.preparation_id,
            entry.actor,
            entry.witness,
            entry.reverses_seq,
            entry.reason,
            entry.details_json,
            entry.prev_hash,
        ],
    )


@dataclass(frozen=True, slots=True)
class Movement:
    """What one entry records, before it is sealed."""

    kind: EntryKind
    key: StockKey
    quantity_ul: int
    # Worked out from the balance row by common.move_stock or common.book, never by their callers.
    stock_delta_ul: int = 0
    balance_after_ul: int = 0
    container_id: int | None = None
    session_id: int | None = None
    patient_id: int | None = None
    preparation_id: int | None = None
    witness: str | None = None
    reverses_seq: int | None = None
    reason: str = ""
    details: Mapping[str, Any] | None = None


def append_entry(session: Session, actor: Actor, move: Movement) -> LedgerEntry:
    """Seal and append one entry in the caller's transaction (the head row lock keeps appends serial)."""
    key = session_key(session)
    head = session.execute(select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).scalar_one()
    entry = LedgerEntry(
        seq=head.last_seq + 1,
        occurred_at=utcnow(),
        kind=move.kind.value,
        product_id=move.key.product_id,
        lot=move.key.lot,
        location_id=move.key.location_id,
        container_id=move.container_id,
        quantity_ul=move.quantity_ul,
        stock_delta_ul=move.stock_delta_ul,
        balance_after_ul=move.balance_after_ul,
        session_id=move.session_id,
        patient_id=move.patient_id,
        preparation_id=move.preparation_id,
        actor=actor.username,
        witness=move.witness,
        reverses_seq=move.reverses_seq,
        reason=move.reason,
        details_json=canonical_json(dict(move.details or {})),
        prev_hash=head.last_hash,
        hash="",
    )
    entry.hash = entry_seal(key, entry)
    session.add(entry)
    head.last_seq = entry.seq
    head.last_hash = entry.hash
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The outcome of a ledger verification: the first entry that breaks it, if any."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class VerifiedHead:
    """A full walk's result, remembered for the head it ended at."""

    report: LedgerReport
    verified_at: datetime


# The last full walk of each database, with the head (seq, seal) it ended at, in this process: the Stock
# page shows it while the head is unchanged instead of walking every entry on each load.
_VERIFIED: weakref.WeakKeyDictionary[Database, tuple[int, str, VerifiedHead]] = weakref.WeakKeyDictionary()
_VERIFIED_LOCK = threading.Lock()


def _remember(db: Database, head: LedgerHead, report: LedgerReport) -> None:
    with _VERIFIED_LOCK:
        _VERIFIED[db] = (head.last_seq, head.last_hash, VerifiedHead(report, utcnow()))


def verify_ledger(db: Database) -> LedgerReport:
    """Walk the entries in order: sequence, link, seal, each key's running balance, then the head.

    The result is remembered with the head read before the walk (see chain_status): an entry
    appended during the walk moves the head, so the page then asks for a new walk.
    """
    with db.read() as session:
        head = session.execute(select(LedgerHead).where(LedgerHead.id == 1)).scalar_one()
        report = _walk(session)
        _remember(db, head, report)
        return report


def _walk(session: Session) -> LedgerReport:
    """The full walk of verify_ledger in the caller's read transaction."""
    key = session_key(session)
    expected_seq, prev_hash = 1, GENESIS_HASH
    balances: dict[tuple[int, str, int], int] = {}
    rows = session.execute(select(LedgerEntry).order_by(LedgerEntry.seq).execution_options(yield_per=2000))
    for entry in rows.scalars():
        count = expected_seq - 1
        if entry.seq != expected_seq:
            return LedgerReport(
                False, count, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.prev_hash != prev_hash:
            return LedgerReport(
                False, count, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
            )
        if entry_seal(key, entry) != entry.hash:
            problem = f"entry {entry.seq} was altered or not sealed with this clinic's key (HMAC mismatch)"
            return LedgerReport(False, count, entry.seq, problem)
        where = (entry.product_id, entry.lot, entry.location_id)
        balance = balances.get(where, 0) + entry.stock_delta_ul
        if balance != entry.balance_after_ul or balance < 0:
            problem = (
                f"entry {entry.seq} records a balance of {entry.balance_after_ul} uL;"
                f" its entries sum to {balance}"
            )
            return LedgerReport(False, count, entry.seq, problem)
        balances[where] = balance
        prev_hash = entry.hash
        expected_seq += 1
    count = expected_seq - 1
    head = session.execute(select(LedgerHead).where(LedgerHead.id == 1)).scalar_one()
    if head.last_seq != count or head.last_hash != prev_hash:
        first_bad = count + 1 if head.last_seq > count else head.last_seq
        problem = f"the ledger ends at entry {count} but its head records entry {head.last_seq}"
        return LedgerReport(False, count, first_bad, problem)
    # The balance rows the services read must be what the entries add up to.
    for row in session.execute(select(LedgerBalance)).scalars():
        where = (row.product_id, row.lot, row.location_id)
        if balances.get(where, 0) != row.balance_ul:
            last = session.execute(
                select(func.max(LedgerEntry.seq)).where(
                    LedgerEntry.product_id == row.product_id,
                    LedgerEntry.lot == row.lot,
                    LedgerEntry.location_id == row.location_id,
                )
            ).scalar_one()
            problem = (
                f"the balance of product {row.product_id} lot {row.lot} at location {row.location_id}"
                f" is {row.balance_ul} uL but its entries sum to {balances.get(where, 0)} uL"
            )
            return LedgerReport(False, count, last, problem)
    return LedgerReport(True, count)


def count_entries(session: Session) -> int:
    """How many ledger entries exist."""
    return int(session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one())


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """What the Stock page shows of the chain without walking it: a check of the head against the last
    entry, and the last full walk of this very head (None: not walked since the head moved)."""

    head_seq: int
    head_ok: bool
    head_problem: str
    verified: VerifiedHead | None


def chain_status(db: Database, actor: Actor) -> ChainStatus:
    """The head checked against the last entry (two indexed reads) and the remembered full walk."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        head = session.execute(select(LedgerHead).where(LedgerHead.id == 1)).scalar_one()
        last = session.execute(select(func.max(LedgerEntry.seq))).scalar_one()
        sealed = (
            session.execute(
                select(LedgerEntry.hash).where(LedgerEntry.seq == head.last_seq)
            ).scalar_one_or_none()
            if head.last_seq
            else GENESIS_HASH
        )
    problem = ""
    if (last or 0) != head.last_seq:
        problem = f"the ledger ends at entry {last or 0} but its head records entry {head.last_seq}"
    elif sealed != head.last_hash:
        problem = f"entry {head.last_seq} does not carry the seal its head records"
    with _VERIFIED_LOCK:
        seq, seal_, verified = _VERIFIED.get(db, (None, None, None))
    fresh = verified if (seq, seal_) == (head.last_seq, head.last_hash) else None
    return ChainStatus(head.last_seq, not problem, problem, fresh)
