"""Receiving stock: the receipt and its supplier's facts, its sealed containers, the balance raised."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import EntryKind
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import (
    Config,
    Lot,
    Name,
    Registration,
    details,
    location_row,
    move_stock,
    product_of,
    product_row,
    stock_key,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerBalance, LedgerContainer, LedgerReceipt


class ReceiptIn(BaseModel):
    """Containers received (21 CFR 1304.22(c): containers, date, supplier, address, registration)."""

    model_config = ConfigDict(extra="forbid")
    product_id: RecordRef
    location_id: RecordRef
    lot: Lot
    expiry: date
    containers: int = Field(ge=1, le=1000)
    supplier_name: Name
    supplier_address: Name
    supplier_registration: Registration
    invoice: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    received_on: date | None = None


class ReceiptOut(BaseModel):
    """A recorded receipt and its ledger entry."""

    id: int
    product_id: RecordRef
    lot: str
    expiry: date
    containers: int
    container_ids: list[RecordRef]
    received_ml: float
    received_mg: float
    entry_seq: int


def receive(db: Database, actor: Actor, data: ReceiptIn, *, config: Config) -> ReceiptOut:
    """Receive containers into a location: a receipt, its sealed containers, one entry raising the balance."""
    require(actor, Permission.LEDGER_RECEIVE)
    today = data.received_on or utcnow().date()
    if today > utcnow().date():
        raise InputError("is in the future", field="received_on")
    with db.transaction() as session:
        product_row_ = product_row(session, data.product_id)
        location_row(session, data.location_id)
        product = product_of(product_row_)
        existing = session.execute(
            select(LedgerBalance.expiry).where(
                LedgerBalance.product_id == data.product_id, LedgerBalance.lot == data.lot
            )
        ).first()
        if existing and existing[0] != data.expiry:
            raise ConflictError(
                f"lot {data.lot} is already stocked with expiry {existing[0]}", field="expiry"
            )
        receipt = LedgerReceipt(
            product_id=data.product_id,
            location_id=data.location_id,
            lot=data.lot,
            expiry=data.expiry,
            containers=data.containers,
            supplier_name=data.supplier_name,
            supplier_address=data.supplier_address,
            supplier_registration=data.supplier_registration,
            invoice=data.invoice,
            received_on=today,
            received_by=actor.username,
            recorded_at=utcnow(),
        )
        session.add(receipt)
        session.flush()
        containers = [
            LedgerContainer(
                receipt_id=receipt.id,
                product_id=data.product_id,
                location_id=data.location_id,
                lot=data.lot,
                expiry=data.expiry,
                state="sealed",
                remaining_ul=product.container_ul,
            )
            for _ in range(data.containers)
        ]
        session.add_all(containers)
        session.flush()
        quantity = product.container_ul * data.containers
        entry = move_stock(
            session,
            actor,
            Movement(
                kind=EntryKind.RECEIPT,
                key=stock_key(data),
                quantity_ul=quantity,
                details=details(
                    receipt_id=receipt.id,
                    containers=data.containers,
                    supplier_name=data.supplier_name,
                    supplier_address=data.supplier_address,
                    supplier_registration=data.supplier_registration,
                    invoice=data.invoice,
                    received_on=today.isoformat(),
                    expiry=data.expiry.isoformat(),
                ),
            ),
            expiry=data.expiry,
        )
        audit(
            session,
            actor,
            "receive",
            "ledger_receipt",
            receipt.id,
            new_values(
                product=product.label,
                lot=data.lot,
                containers=data.containers,
                supplier=f"{data.supplier_name} ({data.supplier_registration})",
                ledger_entry=entry.seq,
            ),
        )
        return ReceiptOut(
            id=receipt.id,
            product_id=data.product_id,
            lot=data.lot,
            expiry=data.expiry,
            containers=data.containers,
            container_ids=[c.id for c in containers],
            received_ml=quantity / 1000,
            received_mg=product.mg_of(quantity),
            entry_seq=entry.seq,
        )
