"""What the clinic stocks and where: products (one per NDC, with their schedule) and storage locations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from ketaclinic.errors import ConflictError
from ketaclinic.ledger import make_product
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.common import Config, Name, Text, jurisdiction, product_label
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerLocation, LedgerProduct


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
