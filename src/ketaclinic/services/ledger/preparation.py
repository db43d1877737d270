"""The bag prepared for a session from stock: drawn from containers of one lot, at exactly the concentration
the session charts with, independently double-checked; and how a preparation's use is booked."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import (
    CONTROLLED_DRUGS,
    EntryKind,
    Product,
    check_concentration,
    ml_to_ul,
    prepared_concentration_mg_ml,
    product_drug,
)
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import (
    Config,
    Name,
    book,
    container_row,
    details,
    is_quarantined,
    ledger_policy,
    move_stock,
    product_of,
    product_row,
    stock_key,
    take_from_container,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerPreparation
from ketaclinic.store.tables.sessions import InfusionSession

INFUSION = "infusion"


# A bag is prepared once the patient is checked in and before the record is signed.
PREPARABLE = frozenset({"checked_in", "running", "paused"})


class PreparationIn(BaseModel):
    """A bag made for a session: containers, volume drawn, diluent, final volume, the second checker."""

    model_config = ConfigDict(extra="forbid")
    container_ids: list[RecordRef] = Field(min_length=1, max_length=20)
    volume_drawn_ml: float = Field(gt=0, le=1000)
    diluent: Name = "sodium chloride 0.9%"
    final_volume_ml: float = Field(gt=0, le=5000)
    checked_by: str = ""


class PreparationOut(BaseModel):
    """A preparation and, once reconciled, its numbers."""

    id: int
    session_id: RecordRef
    purpose: str
    medication_id: RecordRef | None
    product_id: RecordRef
    lot: str
    containers: list[int]
    volume_drawn_ml: float
    prepared_mg: float
    diluent: str
    final_volume_ml: float
    concentration_mg_ml: float
    prepared_by: str
    checked_by: str | None
    prepared_at: datetime
    state: str
    administered_mg: float | None
    wasted_mg: float | None
    waste_method: str | None
    waste_witness: str | None
    discrepancy_mg: float | None


def preparation_out(row: LedgerPreparation) -> PreparationOut:
    """Output model of a preparation."""
    return PreparationOut(
        id=row.id,
        session_id=row.session_id,
        purpose=row.purpose,
        medication_id=row.medication_id,
        product_id=row.product_id,
        lot=row.lot,
        containers=json.loads(row.containers_json),
        volume_drawn_ml=row.drawn_ul / 1000,
        prepared_mg=row.prepared_mg,
        diluent=row.diluent,
        final_volume_ml=row.final_volume_ml,
        concentration_mg_ml=row.concentration_mg_ml,
        prepared_by=row.prepared_by,
        checked_by=row.checked_by,
        prepared_at=row.prepared_at,
        state=row.state,
        administered_mg=row.administered_mg,
        wasted_mg=row.wasted_mg,
        waste_method=row.waste_method,
        waste_witness=row.waste_witness,
        discrepancy_mg=row.discrepancy_mg,
    )


def _checker(session: Session, actor: Actor, username: str, required: bool) -> str | None:
    """The independent double check: another active clinical user (None when the policy does not ask)."""
    name = username.strip().lower()
    if not name:
        if required:
            raise InputError("an independent double check by a second user is required", field="checked_by")
        return None
    if name == actor.username:
        raise InputError("the double check is made by another user than the preparer", field="checked_by")
    user = session.execute(
        select(User).where(User.username == name, User.active.is_(True))
    ).scalar_one_or_none()
    if user is None:
        raise InputError(f"no active user {name!r}", field="checked_by")
    if user.role not in ("physician", "nurse"):
        raise InputError(f"{name} is not a clinical user", field="checked_by")
    return name


def draw(
    session: Session,
    actor: Actor,
    row: InfusionSession,
    containers: list[LedgerContainer],
    drawn_ul: int,
    preparation: LedgerPreparation,
) -> list[int]:
    """Take `drawn_ul` from the containers in order (opening each); one DRAW entry per container."""
    left = drawn_ul
    now = utcnow()
    seqs = []
    for container in containers:
        if left == 0:
            raise InputError(f"container {container.id} is not needed for this volume", field="container_ids")
        take = min(left, container.remaining_ul)
        if take == 0:
            raise ConflictError(f"container {container.id} is empty", field="container_ids")
        take_from_container(container, take, now)
        entry = move_stock(
            session,
            actor,
            Movement(
                kind=EntryKind.DRAW,
                key=stock_key(container),
                quantity_ul=take,
                container_id=container.id,
                session_id=row.id,
                patient_id=row.patient_id,
                preparation_id=preparation.id,
                details=details(purpose=preparation.purpose),
            ),
        )
        seqs.append(entry.seq)
        left -= take
    if left > 0:
        raise ConflictError(
            f"the containers hold {(drawn_ul - left) / 1000:g} mL; {drawn_ul / 1000:g} mL was to be drawn",
            field="volume_drawn_ml",
        )
    return seqs


def containers_to_draw(
    session: Session, ids: list[int], drug: str
) -> tuple[list[LedgerContainer], LedgerContainer]:
    """The containers to draw from (locked), of one product and lot at one place, none expired."""
    rows = [container_row(session, cid) for cid in dict.fromkeys(ids)]
    first = rows[0]
    today = utcnow().date()
    for c in rows:
        if (c.product_id, c.lot, c.location_id) != (first.product_id, first.lot, first.location_id):
            raise InputError("draw from containers of one product, lot and location", field="container_ids")
        if is_quarantined(c.expiry, today):
            raise ConflictError(
                f"container {c.id} expired on {c.expiry}: it is quarantined (return or destroy only)",
                field="container_ids",
            )
    product = product_row(session, first.product_id)
    if product.drug != drug:
        raise InputError(f"the containers hold {product.drug}, not {drug}", field="container_ids")
    return rows, first


def prepare(
    db: Database, actor: Actor, session_id: int, data: PreparationIn, *, config: Config
) -> PreparationOut:
    """Prepare the session's bag from stock, at exactly the concentration the session charts with (409)."""
    require(actor, Permission.LEDGER_DISPENSE)
    policy = ledger_policy(config)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.state not in PREPARABLE:
            raise ConflictError(
                f"a bag is prepared for a checked-in session, not a {row.state} one", field="state"
            )
        drug = product_drug(row.drug)
        if drug not in CONTROLLED_DRUGS:
            raise ConflictError(f"the ledger does not keep {row.drug}", field="session_id")
        existing = session.execute(
            select(LedgerPreparation.id).where(
                LedgerPreparation.session_id == row.id, LedgerPreparation.purpose == INFUSION
            )
        ).first()
        if existing:
            raise ConflictError(f"this session's bag is preparation {existing[0]}", field="session_id")
        checker = _checker(session, actor, data.checked_by, policy.double_check_required)
        containers, first = containers_to_draw(session, data.container_ids, drug)
        product = product_of(product_row(session, first.product_id))
        drawn_ul = ml_to_ul(data.volume_drawn_ml)
        prepared_mg = product.mg_of(drawn_ul)
        concentration = prepared_concentration_mg_ml(prepared_mg, data.final_volume_ml)
        check_concentration(concentration, row.concentration_mg_ml)
        if data.final_volume_ml < data.volume_drawn_ml:
            raise InputError("the final volume includes the volume drawn", field="final_volume_ml")
        prep = LedgerPreparation(
            session_id=row.id,
            purpose=INFUSION,
            product_id=first.product_id,
            lot=first.lot,
            location_id=first.location_id,
            containers_json=json.dumps([c.id for c in containers]),
            drawn_ul=drawn_ul,
            prepared_mg=prepared_mg,
            diluent=data.diluent,
            final_volume_ml=data.final_volume_ml,
            concentration_mg_ml=row.concentration_mg_ml,
            prepared_by=actor.username,
            checked_by=checker,
            prepared_at=utcnow(),
            state="prepared",
        )
        session.add(prep)
        session.flush()
        seqs = draw(session, actor, row, containers, drawn_ul, prep)
        audit(
            session,
            actor,
            "prepare",
            "infusion_session",
            row.id,
            new_values(
                preparation_id=prep.id,
                prepared_mg=prepared_mg,
                concentration_mg_ml=row.concentration_mg_ml,
                checked_by=checker,
                ledger_entries=seqs,
            ),
        )
        return preparation_out(prep)


def infusion_preparation(
    session: Session, session_id: int, *, lock: bool = False
) -> LedgerPreparation | None:
    """The session's infusion bag (None before it is prepared), locked for update when asked."""
    query = select(LedgerPreparation).where(
        LedgerPreparation.session_id == session_id, LedgerPreparation.purpose == INFUSION
    )
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def product_ul(product: Product, mg: float) -> int:
    """The product volume that holds `mg` (what an administration or waste entry counts)."""
    return max(0, round(mg / product.strength_mg_ml * 1000))


def book_use(
    session: Session,
    actor: Actor,
    row: InfusionSession,
    prep: LedgerPreparation,
    kind: EntryKind,
    mg: float,
    product: Product,
    *,
    witness: str | None = None,
    **facts: object,
) -> None:
    """Book `mg` of a preparation given or wasted (`kind`), counted as the product volume that holds it."""
    book(
        session,
        actor,
        Movement(
            kind=kind,
            key=stock_key(prep),
            quantity_ul=product_ul(product, mg),
            session_id=row.id,
            patient_id=row.patient_id,
            preparation_id=prep.id,
            witness=witness,
            details=details(**facts),
        ),
    )
