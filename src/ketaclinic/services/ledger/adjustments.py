"""Adjustments (a count difference booked on a balance, with its reason) and corrections (a receipt entered
in error or an adjustment reversed by a new entry; an entry is never edited)."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import EntryKind, ml_to_ul
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import Lot, Reason, details, move_stock, stock_key
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerEntry


class AdjustIn(BaseModel):
    """A count difference booked on a balance (signed mL), with its reason."""

    model_config = ConfigDict(extra="forbid")
    product_id: RecordRef
    lot: Lot
    location_id: RecordRef
    quantity_ml: float = Field(ge=-100000, le=100000)
    reason: Reason
    count_id: RecordRef | None = None


def adjust(db: Database, actor: Actor, data: AdjustIn) -> int:
    """Book an adjustment (never below zero); the entry's sequence number."""
    require(actor, Permission.LEDGER_ADJUST)
    quantity = ml_to_ul(data.quantity_ml)
    if quantity == 0:
        raise InputError("an adjustment moves the balance", field="quantity_ml")
    with db.transaction() as session:
        entry = move_stock(
            session,
            actor,
            Movement(
                kind=EntryKind.ADJUSTMENT,
                key=stock_key(data),
                quantity_ul=quantity,
                reason=data.reason,
                details=details(count_id=data.count_id),
            ),
        )
        audit(
            session,
            actor,
            "adjust",
            "ledger_entry",
            entry.seq,
            new_values(quantity_ml=data.quantity_ml, lot=data.lot),
            data.reason,
        )
        return entry.seq


class CorrectionIn(BaseModel):
    """Reverse an earlier entry (the entry itself is never edited)."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1)
    reason: Reason


def _reverse_receipt(session: Session, target: LedgerEntry) -> None:
    """A receipt entered in error is reversed only while every container of it is sealed and in place."""
    receipt_id = json.loads(target.details_json).get("receipt_id")
    containers = list(
        session.execute(
            select(LedgerContainer).where(LedgerContainer.receipt_id == receipt_id).with_for_update()
        ).scalars()
    )
    if any(c.state != "sealed" for c in containers):
        raise ConflictError("a container of this receipt was opened or has left stock", field="seq")
    for container in containers:
        container.state = "reversed"
        container.remaining_ul = 0


def correct(db: Database, actor: Actor, data: CorrectionIn) -> int:
    """Append an entry reversing a receipt entered in error (all its containers still sealed) or an
    adjustment; its sequence number.

    Draws, administrations, wastes and disposals moved containers or a patient's record and are not
    reversed: a count and an adjustment with its reason book what the shelf shows.
    """
    require(actor, Permission.LEDGER_ADJUST)
    with db.transaction() as session:
        target = session.get(LedgerEntry, data.seq)
        if target is None:
            raise InputError(f"no ledger entry {data.seq}", field="seq")
        if target.kind == EntryKind.RECEIPT.value:
            _reverse_receipt(session, target)
        elif target.kind != EntryKind.ADJUSTMENT.value:
            raise ConflictError(
                f"entry {data.seq} is a {target.kind}: a correction reverses a receipt or an adjustment",
                field="seq",
            )
        already = session.execute(select(LedgerEntry.seq).where(LedgerEntry.reverses_seq == data.seq)).first()
        if already:
            raise ConflictError(f"entry {data.seq} is already reversed by entry {already[0]}", field="seq")
        entry = move_stock(
            session,
            actor,
            Movement(
                kind=EntryKind.CORRECTION,
                key=stock_key(target),
                quantity_ul=0,
                reverses_seq=target.seq,
                reason=data.reason,
            ),
        )
        audit(
            session,
            actor,
            "correct",
            "ledger_entry",
            entry.seq,
            new_values(reverses=target.seq),
            data.reason,
        )
        return entry.seq
