"""Dispensing for a session: the bag prepared (double-checked), the dose administered (computed from the
chart at the infusion's end, never typed), the waste witnessed, the reconciliation and its gate on signing.

Controlled drugs charted as doses on the session (a midazolam rescue or premedication) are drawn from
stock the same way: the charted dose is what was administered, the rest of what was drawn is wasted.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.data import Status
from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import (
    CONTROLLED_DRUGS,
    EntryKind,
    Product,
    Reconciliation,
    check_concentration,
    ml_to_ul,
    prepared_concentration_mg_ml,
    product_drug,
    reconcile,
)
from ketaclinic.monitoring import Advice, AlertFinding, AlertGroup, Severity
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import (
    Config,
    Name,
    Reason,
    book,
    container_row,
    details,
    is_quarantined,
    ledger_policy,
    move_stock,
    policy_witness,
    product_of,
    product_row,
    stock_key,
    take_from_container,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.alert_raising import raise_findings, session_owner
from ketaclinic.services.sessions.charting import given_mg, session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerPreparation
from ketaclinic.store.tables.sessions import InfusionSession, SessionMedication

INFUSION = "infusion"
# A bag is prepared once the patient is checked in and before the record is signed.
PREPARABLE = frozenset({"checked_in", "running", "paused"})
ENDED = frozenset({"completed", "stopped", "recovery", "discharged"})
SETTLED = frozenset({"reconciled", "accepted"})
Method = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class PreparationIn(BaseModel):
    """A bag made for a session: containers, volume drawn, diluent, final volume, the second checker."""

    model_config = ConfigDict(extra="forbid")
    container_ids: list[RecordRef] = Field(min_length=1, max_length=20)
    volume_drawn_ml: float = Field(gt=0, le=1000)
    diluent: Name = "sodium chloride 0.9%"
    final_volume_ml: float = Field(gt=0, le=5000)
    checked_by: str = ""


class WasteIn(BaseModel):
    """What was left in the bag at the end (mL at the bag's concentration), how it was wasted, the witness."""

    model_config = ConfigDict(extra="forbid")
    residual_ml: float = Field(ge=0, le=5000)
    method: Method
    witness: str = ""
    witness_password: str = ""


class DoseDispenseIn(BaseModel):
    """A charted controlled-drug dose drawn from a container; what was drawn beyond the dose is wasted."""

    model_config = ConfigDict(extra="forbid")
    medication_id: RecordRef
    container_id: RecordRef
    volume_drawn_ml: float = Field(gt=0, le=100)
    method: Method = "wasted into a pharmaceutical waste container"
    witness: str = ""
    witness_password: str = ""


class AcceptIn(BaseModel):
    """A physician's reasoned acceptance of a reconciliation outside the tolerance."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


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


class ReconciliationOut(BaseModel):
    """A session's reconciliation (the `ledger reconcile` fields) and whether it is within tolerance."""

    session_id: RecordRef
    prepared_mg: float
    administered_mg: float
    wasted_mg: float
    discrepancy_mg: float
    tolerance_mg: float
    within_tolerance: bool
    state: str
    preparations: list[PreparationOut]


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


def _draw(
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


def _containers(session: Session, ids: list[int], drug: str) -> tuple[list[LedgerContainer], LedgerContainer]:
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
        containers, first = _containers(session, data.container_ids, drug)
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
        seqs = _draw(session, actor, row, containers, drawn_ul, prep)
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


def _infusion_preparation(
    session: Session, session_id: int, *, lock: bool = False
) -> LedgerPreparation | None:
    query = select(LedgerPreparation).where(
        LedgerPreparation.session_id == session_id, LedgerPreparation.purpose == INFUSION
    )
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def _product_ul(product: Product, mg: float) -> int:
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
            quantity_ul=_product_ul(product, mg),
            session_id=row.id,
            patient_id=row.patient_id,
            preparation_id=prep.id,
            witness=witness,
            details=details(**facts),
        ),
    )


def book_administration(session: Session, actor: Actor, row: InfusionSession) -> LedgerPreparation | None:
    """At the infusion's end: book what the chart says was given from the bag (once; None without a bag)."""
    prep = _infusion_preparation(session, row.id, lock=True)
    if prep is None or prep.administered_mg is not None or row.ended_at is None:
        return prep
    administered = round(given_mg(session, row, row.ended_at), 6)
    product = product_of(product_row(session, prep.product_id))
    prep.administered_mg = administered
    audit(
        session,
        actor,
        "administer",
        "infusion_session",
        row.id,
        new_values(
            preparation_id=prep.id,
            administered_mg=administered,
        ),
        "computed from the charted rate segments and boluses at the infusion's end",
    )
    if _product_ul(product, administered) == 0:
        return prep  # nothing given (stopped at once): no administration to book
    book_use(
        session,
        actor,
        row,
        prep,
        EntryKind.ADMINISTRATION,
        administered,
        product,
        administered_mg=administered,
        computed_from="charted rate segments and boluses",
    )
    return prep


def _raise_discrepancy(
    session: Session, actor: Actor, row: InfusionSession, prep: LedgerPreparation, config: Config
) -> None:
    """A durable alert to the physicians: drug unaccounted for (or more given than prepared)."""
    policy = ledger_policy(config)
    entry = policy.sources["tolerance_mg"]
    finding = AlertFinding(
        rule_key="ledger_reconciliation",
        severity=Severity.WARNING,
        advice=Advice.CONTINUE_AND_RECHECK,
        message=(
            f"controlled-substance discrepancy: {prep.prepared_mg:g} mg prepared,"
            f" {prep.administered_mg:g} mg given,"
            f" {prep.wasted_mg:g} mg wasted: {prep.discrepancy_mg:g} mg unaccounted for"
            f" (tolerance {policy.tolerance_mg:g} mg)"
        ),
        field=None,
        value=prep.discrepancy_mg,
        threshold=policy.tolerance_mg,
        t_min=None,
        trigger_key=f"ledger_reconciliation@preparation:{prep.id}",
        source=entry.source,
        status=entry.status if isinstance(entry.status, Status) else Status.LOCAL_POLICY,
        group=AlertGroup.DOSE,
        notify_physician=True,
    )
    raise_findings(session, actor, session_owner(session, row.id), [finding])


def record_waste(
    db: Database, actor: Actor, session_id: int, data: WasteIn, *, config: Config
) -> ReconciliationOut:
    """After the infusion: the bag's residual wasted (witnessed), then reconciled; a discrepancy alerts."""
    require(actor, Permission.LEDGER_DISPENSE)
    policy = ledger_policy(config)
    witness = policy_witness(db, actor, policy, data.witness, data.witness_password)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.state not in ENDED:
            raise ConflictError(
                f"the waste is recorded after the infusion ends (it is {row.state})", field="state"
            )
        prep = book_administration(session, actor, row)
        if prep is None:
            raise NotFoundError("this session has no preparation", field="session_id")
        if prep.wasted_mg is not None:
            raise ConflictError("this bag's waste is already recorded", field="residual_ml")
        assert prep.administered_mg is not None  # book_administration set it (the session has ended)
        wasted = round(data.residual_ml * prep.concentration_mg_ml, 6)
        product = product_of(product_row(session, prep.product_id))
        result = reconcile(prep.prepared_mg, prep.administered_mg, wasted, tolerance_mg=policy.tolerance_mg)
        prep.wasted_mg = wasted
        prep.waste_method = data.method
        prep.waste_witness = witness
        prep.discrepancy_mg = result.discrepancy_mg
        prep.tolerance_mg = policy.tolerance_mg
        prep.reconciled_at = utcnow()
        prep.reconciled_by = actor.username
        prep.state = "reconciled" if result.within_tolerance else "discrepancy"
        if wasted > 0:
            book_use(
                session,
                actor,
                row,
                prep,
                EntryKind.WASTE,
                wasted,
                product,
                witness=witness,
                wasted_mg=wasted,
                residual_ml=data.residual_ml,
                method=data.method,
            )
        if not result.within_tolerance:
            _raise_discrepancy(session, actor, row, prep, config)
        audit(
            session,
            actor,
            "waste",
            "infusion_session",
            row.id,
            new_values(
                preparation_id=prep.id,
                administered_mg=prep.administered_mg,
                wasted_mg=wasted,
                discrepancy_mg=result.discrepancy_mg,
                waste_witness=witness,
            )
            | {"state": {"old": "prepared", "new": prep.state}},
        )
        return _reconciliation(session, row, policy.tolerance_mg)


def dispense_dose(
    db: Database, actor: Actor, session_id: int, data: DoseDispenseIn, *, config: Config
) -> PreparationOut:
    """Draw a charted controlled-drug dose from a container: the dose administered, the rest wasted."""
    require(actor, Permission.LEDGER_DISPENSE)
    policy = ledger_policy(config)
    witness = policy_witness(db, actor, policy, data.witness, data.witness_password)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.state == "signed":
            raise ConflictError("the session is signed and locked", field="state")
        med = session.get(SessionMedication, data.medication_id)
        if med is None or med.session_id != row.id:
            raise NotFoundError(f"no dose {data.medication_id} in this session", field="medication_id")
        if med.medication not in CONTROLLED_DRUGS or med.purpose == "ketamine_bolus" or med.unit != "mg":
            raise ConflictError(
                "only a controlled-drug dose charted in mg is dispensed this way", field="medication_id"
            )
        if session.execute(
            select(LedgerPreparation.id).where(LedgerPreparation.medication_id == med.id)
        ).first():
            raise ConflictError("this dose is already dispensed", field="medication_id")
        containers, first = _containers(session, [data.container_id], med.medication)
        product = product_of(product_row(session, first.product_id))
        drawn_ul = ml_to_ul(data.volume_drawn_ml)
        drawn_mg = product.mg_of(drawn_ul)
        wasted = round(drawn_mg - med.dose, 6)
        if wasted < 0:
            raise ConflictError(
                f"{drawn_mg:g} mg drawn is less than the {med.dose:g} mg charted", field="volume_drawn_ml"
            )
        prep = LedgerPreparation(
            session_id=row.id,
            purpose=med.purpose,
            medication_id=med.id,
            product_id=first.product_id,
            lot=first.lot,
            location_id=first.location_id,
            containers_json=json.dumps([first.id]),
            drawn_ul=drawn_ul,
            prepared_mg=drawn_mg,
            diluent="none",
            final_volume_ml=data.volume_drawn_ml,
            concentration_mg_ml=product.strength_mg_ml,
            prepared_by=actor.username,
            prepared_at=utcnow(),
            state="reconciled",
            administered_mg=med.dose,
            wasted_mg=wasted,
            waste_method=data.method if wasted > 0 else None,
            waste_witness=witness if wasted > 0 else None,
            discrepancy_mg=0.0,
            tolerance_mg=policy.tolerance_mg,
            reconciled_at=utcnow(),
            reconciled_by=actor.username,
        )
        session.add(prep)
        session.flush()
        _draw(session, actor, row, containers, drawn_ul, prep)
        for kind, mg, extra in (
            (EntryKind.ADMINISTRATION, med.dose, {"administered_mg": med.dose, "medication_id": med.id}),
            (EntryKind.WASTE, wasted, {"wasted_mg": wasted, "method": data.method}),
        ):
            if mg > 0:
                witnessed = witness if kind is EntryKind.WASTE else None
                book_use(session, actor, row, prep, kind, mg, product, witness=witnessed, **extra)
        audit(
            session,
            actor,
            "dispense_dose",
            "infusion_session",
            row.id,
            new_values(
                medication_id=med.id,
                administered_mg=med.dose,
                wasted_mg=wasted,
                waste_witness=witness,
            ),
        )
        return preparation_out(prep)


def accept_discrepancy(db: Database, actor: Actor, session_id: int, data: AcceptIn) -> PreparationOut:
    """A physician or admin accepts a reconciliation outside the tolerance, with a reason; the alert stays."""
    require(actor, Permission.LEDGER_ADJUST)
    with db.transaction() as session:
        session_row(session, session_id, lock=True)
        prep = _infusion_preparation(session, session_id, lock=True)
        if prep is None or prep.state != "discrepancy":
            raise ConflictError(
                "this session has no reconciliation outside the tolerance", field="session_id"
            )
        prep.state = "accepted"
        audit(
            session,
            actor,
            "accept_discrepancy",
            "infusion_session",
            session_id,
            {"preparation_state": {"old": "discrepancy", "new": "accepted"}}
            | new_values(discrepancy_mg=prep.discrepancy_mg),
            data.reason,
        )
        return preparation_out(prep)


def _reconciliation(session: Session, row: InfusionSession, tolerance_mg: float) -> ReconciliationOut:
    preps = list(
        session.execute(
            select(LedgerPreparation)
            .where(LedgerPreparation.session_id == row.id)
            .order_by(LedgerPreparation.id)
        ).scalars()
    )
    bag = next((p for p in preps if p.purpose == INFUSION), None)
    administered = (
        bag.administered_mg
        if bag is not None and bag.administered_mg is not None
        else (given_mg(session, row, row.ended_at or utcnow()) if row.started_at else 0.0)
    )
    result: Reconciliation = reconcile(
        bag.prepared_mg if bag else 0.0,
        administered,
        bag.wasted_mg or 0.0 if bag else 0.0,
        tolerance_mg=bag.tolerance_mg if bag and bag.tolerance_mg is not None else tolerance_mg,
    )
    given_none = row.started_at is not None and administered == 0
    state = bag.state if bag else ("nothing given" if given_none else "not prepared")
    return ReconciliationOut(
        session_id=row.id,
        prepared_mg=result.prepared_mg,
        administered_mg=round(result.administered_mg, 6),
        wasted_mg=result.wasted_mg,
        discrepancy_mg=result.discrepancy_mg,
        tolerance_mg=result.tolerance_mg,
        within_tolerance=result.within_tolerance,
        state=state,
        preparations=[preparation_out(p) for p in preps],
    )


def reconciliation(db: Database, actor: Actor, session_id: int, *, config: Config) -> ReconciliationOut:
    """The session's reconciliation: prepared, administered (from the chart), wasted, discrepancy."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        row = session_row(session, session_id)
        return _reconciliation(session, row, ledger_policy(config).tolerance_mg)


def signing_gate(session: Session, row: InfusionSession, config: Config) -> None:
    """ConflictError unless the session's controlled drugs are reconciled (when the clinic's policy asks)."""
    if not ledger_policy(config).reconcile_before_signing:
        return
    bag = _infusion_preparation(session, row.id)
    if bag is None:
        if (
            row.started_at is not None
            and row.drug in CONTROLLED_DRUGS
            and given_mg(session, row, row.ended_at or utcnow()) > 0
        ):
            raise ConflictError(
                "cannot sign: the infusion's preparation is not recorded in the ledger", field="ledger"
            )
    elif bag.state not in SETTLED:
        doing = (
            "its waste is not recorded"
            if bag.state == "prepared"
            else "its reconciliation is outside the tolerance"
        )
        raise ConflictError(f"cannot sign: the preparation is not reconciled ({doing})", field="ledger")
    doses = session.execute(
        select(SessionMedication.id, SessionMedication.medication).where(
            SessionMedication.session_id == row.id,
            SessionMedication.medication.in_(CONTROLLED_DRUGS),
            SessionMedication.purpose != "ketamine_bolus",
        )
    ).all()
    dispensed = set(
        session.execute(
            select(LedgerPreparation.medication_id).where(LedgerPreparation.session_id == row.id)
        ).scalars()
    )
    missing = [f"{name} dose {mid}" for mid, name in doses if mid not in dispensed]
    if missing:
        raise ConflictError(
            f"cannot sign: not dispensed from the ledger: {', '.join(missing)}", field="ledger"
        )
