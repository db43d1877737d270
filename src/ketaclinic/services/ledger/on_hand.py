"""Stock on hand: the running balance per product, lot and location, and the containers still on the shelf
(sealed or opened; expired ones quarantined)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.inputs import RecordRef
from ketaclinic.services.ledger.common import Config, is_quarantined, jurisdiction, product_label, product_of
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerBalance, LedgerContainer, LedgerLocation, LedgerProduct


class BalanceOut(BaseModel):
    """One balance line: a product's lot at a location, in mL and mg, with its containers."""

    product_id: RecordRef
    product: str
    drug: str
    schedule: str
    ndc: str
    lot: str
    expiry: date
    quarantined: bool
    location_id: RecordRef
    location: str
    balance_ml: float
    balance_mg: float
    sealed_containers: int
    open_containers: int


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
