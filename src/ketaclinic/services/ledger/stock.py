"""Stock: products, storage locations, receipts, balances, returns, destruction, losses, adjustments and
corrections. Every write is one ledger entry (or more) and an audit event in the same transaction."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import EntryKind, make_product, ml_to_ul
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import (
    BalanceOut,
    Config,
    Name,
    Reason,
    Registration,
    Text,
    container_row,
    details,
    is_quarantined,
    jurisdiction,
    ledger_policy,
    location_row,
    move_stock,
    policy_witness,
    product_label,
    product_of,
    product_row,
    stock_key,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import (
    LedgerBalance,
    LedgerContainer,
    LedgerEntry,
    LedgerLocation,
    LedgerProduct,
    LedgerReceipt,
)

Lot = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ProductIn(BaseModel):
    """A product to stock."""

    model_config = ConfigDict(extra="forbid")
    drug: Name
    form: str = "injection_solution"
    strength_mg_ml: float = Field(gt=0, le=1000)
    container_ml: float = Field(gt=0, le=1000)
    ndc: Name
    note: Text = Field("", max_length=200)  # shown beside the label, e.g. "synthetic demo NDC"


class ProductOut(BaseModel):
    """A stocked product with its schedule in the clinic's jurisdiction."""

    id: int
    drug: str
    form: str
    strength_mg_ml: float
    container_ml: float
    ndc: str
    ndc11: str
    note: str
    schedule: str
    schedule_source: str
    label: str


def product_out(row: LedgerProduct, config: Config) -> ProductOut:
    """Output model of a product."""
    schedule = jurisdiction(config).schedule_of(row.drug)
    return ProductOut(
        id=row.id,
        drug=row.drug,
        form=row.form,
        strength_mg_ml=row.strength_mg_ml,
        container_ml=row.container_ml,
        ndc=row.ndc,
        ndc11=row.ndc11,
        note=row.note,
        schedule=schedule.schedule,
        schedule_source=schedule.source,
        label=product_label(row),
    )


def add_product(db: Database, actor: Actor, data: ProductIn, *, config: Config) -> ProductOut:
    """Add a product (its NDC checked; one product per NDC)."""
    require(actor, Permission.LEDGER_RECEIVE)
    product = make_product(data.drug, data.form, data.strength_mg_ml, data.container_ml, data.ndc)
    jurisdiction(config).schedule_of(product.drug)
    with db.transaction() as session:
        taken = session.execute(
            select(LedgerProduct.id).where(LedgerProduct.ndc11 == product.ndc.eleven_digit)
        ).first()
        if taken:
            raise ConflictError(f"NDC {product.ndc.printed} is already product {taken[0]}", field="ndc")
        row = LedgerProduct(
            drug=product.drug,
            form=product.form.value,
            strength_mg_ml=product.strength_mg_ml,
            container_ml=product.container_ml,
            ndc=product.ndc.printed,
            ndc11=product.ndc.eleven_digit,
            note=data.note,
            created_by=actor.username,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "add_product",
            "ledger_product",
            row.id,
            new_values(product=product.label, note=data.note),
        )
        return product_out(row, config)


def list_products(db: Database, actor: Actor, *, config: Config) -> list[ProductOut]:
    """Every stocked product."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        rows = session.execute(select(LedgerProduct).order_by(LedgerProduct.drug, LedgerProduct.id)).scalars()
        return [product_out(r, config) for r in rows]


class LocationIn(BaseModel):
    """A storage location."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    kind: Literal["safe", "cabinet", "automated_cabinet"] = "safe"


class LocationOut(BaseModel):
    """A storage location."""

    id: int
    name: str
    kind: str


def add_location(db: Database, actor: Actor, data: LocationIn) -> LocationOut:
    """Add a storage location (names are unique)."""
    require(actor, Permission.LEDGER_RECEIVE)
    with db.transaction() as session:
        if session.execute(select(LedgerLocation.id).where(LedgerLocation.name == data.name)).first():
            raise ConflictError(f"a location is already called {data.name!r}", field="name")
        row = LedgerLocation(name=data.name, kind=data.kind, created_by=actor.username, created_at=utcnow())
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "add_location",
            "ledger_location",
            row.id,
            new_values(name=data.name),
        )
        return LocationOut(id=row.id, name=row.name, kind=row.kind)


def list_locations(db: Database, actor: Actor) -> list[LocationOut]:
    """Every storage location."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        rows = session.execute(select(LedgerLocation).order_by(LedgerLocation.name)).scalars()
        return [LocationOut(id=r.id, name=r.name, kind=r.kind) for r in rows]


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


def balance_lines(session: Session, config: Config) -> list[BalanceOut]:
    """Every balance line, with its containers and whether it is quarantined (expired)."""
    today = utcnow().date()
    rules = jurisdiction(config)
    counts = {
        (pid, lot, loc, state): n
        for pid, lot, loc, state, n in session.execute(
            select(
                LedgerContainer.product_id,
                LedgerContainer.lot,
                LedgerContainer.location_id,
                LedgerContainer.state,
                func.count(),
            ).group_by(
                LedgerContainer.product_id,
                LedgerContainer.lot,
                LedgerContainer.location_id,
                LedgerContainer.state,
            )
        )
    }
    out = []
    rows = session.execute(
        select(LedgerBalance, LedgerProduct, LedgerLocation)
        .join(LedgerProduct, LedgerProduct.id == LedgerBalance.product_id)
        .join(LedgerLocation, LedgerLocation.id == LedgerBalance.location_id)
        .order_by(
            LedgerProduct.drug, LedgerProduct.id, LedgerBalance.expiry, LedgerBalance.lot, LedgerLocation.name
        )
    )
    for balance, product_row_, location in rows.tuples():
        product = product_of(product_row_)
        where = (balance.product_id, balance.lot, balance.location_id)
        out.append(
            BalanceOut(
                product_id=product_row_.id,
                product=product_label(product_row_),
                drug=product.drug,
                schedule=rules.schedule_of(product.drug).schedule,
                ndc=product_row_.ndc,
                lot=balance.lot,
                expiry=balance.expiry,
                quarantined=is_quarantined(balance.expiry, today),
                location_id=location.id,
                location=location.name,
                balance_ml=balance.balance_ul / 1000,
                balance_mg=product.mg_of(balance.balance_ul),
                sealed_containers=counts.get((*where, "sealed"), 0),
                open_containers=counts.get((*where, "open"), 0),
            )
        )
    return out


def balances(db: Database, actor: Actor, *, config: Config) -> list[BalanceOut]:
    """The running balance per product, lot and location."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        return balance_lines(session, config)


class ContainerOut(BaseModel):
    """A container still in stock (sealed or opened)."""

    id: int
    product_id: RecordRef
    lot: str
    expiry: date
    location_id: RecordRef
    state: str
    remaining_ml: float
    quarantined: bool


def containers_in_stock(db: Database, actor: Actor) -> list[ContainerOut]:
    """Containers sealed or opened, earliest expiry first (opened ones before sealed)."""
    require(actor, Permission.LEDGER_VIEW)
    today = utcnow().date()
    with db.read() as session:
        rows = session.execute(
            select(LedgerContainer)
            .where(LedgerContainer.state.in_(("sealed", "open")))
            .order_by(LedgerContainer.expiry, LedgerContainer.state.desc(), LedgerContainer.id)
        ).scalars()
        return [
            ContainerOut(
                id=c.id,
                product_id=c.product_id,
                lot=c.lot,
                expiry=c.expiry,
                location_id=c.location_id,
                state=c.state,
                remaining_ml=c.remaining_ul / 1000,
                quarantined=is_quarantined(c.expiry, today),
            )
            for c in rows
        ]


class DisposalIn(BaseModel):
    """Containers leaving stock other than by a preparation: a return, a destruction or a loss."""

    model_config = ConfigDict(extra="forbid")
    container_ids: list[RecordRef] = Field(min_length=1, max_length=200)
    reason: Text = ""


class ReturnIn(DisposalIn):
    """Containers returned to a reverse distributor."""

    reverse_distributor: Name
    reverse_distributor_registration: Registration


class DestroyIn(DisposalIn):
    """Containers destroyed on site, with a witness who confirms with their password."""

    method: Name
    witness: str = ""
    witness_password: str = ""


LossKind = Literal["theft", "loss", "lost_in_transit", "break_or_spill", "other"]


class LossIn(DisposalIn):
    """A loss or theft (the facts DEA Form 106 asks for)."""

    loss_kind: LossKind
    discovered_on: date
    police_notified: bool = False
    police_report: Text = ""
    description: Reason


class DisposalOut(BaseModel):
    """The entries a disposal wrote."""

    entry_seqs: list[int]
    quantity_ml: float
    quantity_mg: float


def _dispose(
    db: Database,
    actor: Actor,
    data: DisposalIn,
    kind: EntryKind,
    facts: dict[str, object],
    *,
    witness: str | None,
) -> DisposalOut:
    """Take each container's remaining volume out of stock (allowed for quarantined stock too)."""
    seqs: list[int] = []
    total_ul, total_mg = 0, 0.0
    with db.transaction() as session:
        for container_id in dict.fromkeys(data.container_ids):
            container = container_row(session, container_id)
            if container.state not in ("sealed", "open"):
                raise ConflictError(
                    f"container {container.id} is already {container.state}", field="container_ids"
                )
            if container.remaining_ul == 0:
                raise ConflictError(f"container {container.id} is empty", field="container_ids")
            product = product_of(product_row(session, container.product_id))
            quantity = container.remaining_ul
            entry = move_stock(
                session,
                actor,
                Movement(
                    kind=kind,
                    key=stock_key(container),
                    quantity_ul=quantity,
                    container_id=container.id,
                    witness=witness,
                    reason=data.reason,
                    details=details(**facts, was=container.state),
                ),
            )
            container.remaining_ul = 0
            container.state = {EntryKind.RETURN: "returned", EntryKind.DESTRUCTION: "destroyed"}.get(
                kind, "lost"
            )
            seqs.append(entry.seq)
            total_ul += quantity
            total_mg += product.mg_of(quantity)
        audit(
            session,
            actor,
            kind.value,
            "ledger_container",
            ",".join(str(c) for c in dict.fromkeys(data.container_ids)),
            new_values(ledger_entries=seqs, quantity_ml=total_ul / 1000, **facts)
            | (new_values(witness=witness) if witness else {}),
            data.reason,
        )
    return DisposalOut(entry_seqs=seqs, quantity_ml=total_ul / 1000, quantity_mg=round(total_mg, 6))


def return_stock(db: Database, actor: Actor, data: ReturnIn) -> DisposalOut:
    """Return containers to a reverse distributor."""
    require(actor, Permission.LEDGER_RECEIVE)
    facts: dict[str, object] = {
        "reverse_distributor": data.reverse_distributor,
        "reverse_distributor_registration": data.reverse_distributor_registration,
    }
    return _dispose(db, actor, data, EntryKind.RETURN, facts, witness=None)


def destroy(db: Database, actor: Actor, data: DestroyIn, *, config: Config) -> DisposalOut:
    """Destroy containers on site, witnessed (the witness confirms with their own password)."""
    require(actor, Permission.LEDGER_RECEIVE)
    witness = policy_witness(db, actor, ledger_policy(config), data.witness, data.witness_password)
    return _dispose(db, actor, data, EntryKind.DESTRUCTION, {"method": data.method}, witness=witness)


def report_loss(db: Database, actor: Actor, data: LossIn) -> DisposalOut:
    """Record a loss or theft of containers (the DEA Form 106 facts in the entry)."""
    require(actor, Permission.LEDGER_RECEIVE)
    if data.discovered_on > utcnow().date():
        raise InputError("is in the future", field="discovered_on")
    if data.police_notified and not data.police_report:
        raise InputError("give the police report number or contact", field="police_report")
    facts: dict[str, object] = {
        "loss_kind": data.loss_kind,
        "discovered_on": data.discovered_on.isoformat(),
        "police_notified": data.police_notified,
        "police_report": data.police_report,
        "description": data.description,
        "form": "DEA Form 106",
    }
    return _dispose(db, actor, data, EntryKind.LOSS, facts, witness=None)


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
