"""The reports an inspector asks for: the dispensing record per drug and period (21 CFR 1304.22(c)
fields), per-session reconciliation, discrepancies and the inventory, as rows the page and CSV share."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.errors import InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import count_method
from ketaclinic.services.ledger.common import Config, jurisdiction, product_of
from ketaclinic.services.ledger.on_hand import balance_lines
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import (
    LedgerCount,
    LedgerEntry,
    LedgerLocation,
    LedgerPreparation,
    LedgerProduct,
)
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.sessions import InfusionSession

# How each kind reads in the record (1304.22(c): received, dispensed or administered, otherwise disposed of).
MANNER = {
    "receipt": "received",
    "draw": "drawn for administration",
    "administration": "administered",
    "waste": "wasted",
    "return": "returned to reverse distributor",
    "destruction": "destroyed",
    "loss": "lost or stolen",
    "adjustment": "count adjustment",
    "correction": "correction",
}


class DispensingRow(BaseModel):
    """One line of the dispensing record."""

    seq: int
    occurred_at: datetime
    drug: str
    form: str
    strength_mg_ml: float
    container_ml: float
    ndc: str
    lot: str
    location: str
    kind: str
    manner: str
    containers: int | None
    supplier: str
    quantity_ml: float
    quantity_mg: float
    balance_after_ml: float
    patient: str
    session_id: RecordRef | None
    person: str
    witness: str
    reason: str


class ReconciliationRow(BaseModel):
    """One preparation's reconciliation."""

    session_id: RecordRef
    preparation_id: RecordRef
    purpose: str
    patient: str
    prepared_at: datetime
    prepared_by: str
    checked_by: str
    prepared_mg: float
    administered_mg: float | None
    wasted_mg: float | None
    discrepancy_mg: float | None
    waste_witness: str
    state: str


class InventoryRow(BaseModel):
    """One inventory line: the balance, and whether it may be counted by estimate (21 CFR 1304.11(e))."""

    drug: str
    schedule: str
    product: str
    lot: str
    expiry: date
    location: str
    balance_ml: float
    balance_mg: float
    sealed_containers: int
    open_containers: int
    open_count_method: str
    quarantined: bool


class CountDifferenceRow(BaseModel):
    """A count line that disagreed with the balance."""

    count_id: RecordRef
    counted_at: datetime
    location_id: RecordRef
    product_id: RecordRef
    lot: str
    expected_ml: float
    counted_ml: float
    difference_ml: float
    reviewed_by: str


class LedgerReport(BaseModel):
    """Everything for one period."""

    start: date
    end: date
    jurisdiction: str
    retention_years: int
    retention_source: str
    dispensing: list[DispensingRow]
    reconciliations: list[ReconciliationRow]
    discrepancies: list[ReconciliationRow]
    count_differences: list[CountDifferenceRow]
    inventory: list[InventoryRow]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise InputError("the period ends before it starts", field="to")
    return datetime.combine(start, time(0), tzinfo=UTC), datetime.combine(
        end + timedelta(days=1), time(0), tzinfo=UTC
    )


def _patient_label(patient: Patient | None, actor: Actor) -> str:
    if patient is None:
        return ""
    return (
        f"{patient.family_name}, {patient.given_name} ({patient.mrn})"
        if actor.sees_identities
        else f"patient {patient.id}"
    )


def _supplier(details: dict[str, object]) -> str:
    if "supplier_name" in details:
        return (
            f"{details['supplier_name']}, {details['supplier_address']} ({details['supplier_registration']})"
        )
    if "reverse_distributor" in details:
        return f"{details['reverse_distributor']} ({details['reverse_distributor_registration']})"
    return ""


def ledger_report(
    db: Database, actor: Actor, start: date, end: date, *, drug: str | None = None, config: Config
) -> LedgerReport:
    """The dispensing record, reconciliations, discrepancies and inventory for [start, end] (UTC days)."""
    require(actor, Permission.LEDGER_VIEW)
    since, until = _bounds(start, end)
    rules = jurisdiction(config)
    with db.read() as session:
        query = (
            select(LedgerEntry, LedgerProduct, LedgerLocation, Patient)
            .join(LedgerProduct, LedgerProduct.id == LedgerEntry.product_id)
            .join(LedgerLocation, LedgerLocation.id == LedgerEntry.location_id)
            .outerjoin(Patient, Patient.id == LedgerEntry.patient_id)
            .where(LedgerEntry.occurred_at >= since, LedgerEntry.occurred_at < until)
            .order_by(LedgerProduct.drug, LedgerEntry.seq)
        )
        if drug:
            query = query.where(LedgerProduct.drug == drug.lower())
        dispensing = []
        for entry, product_row_, location, patient in session.execute(query).tuples():
            product = product_of(product_row_)
            facts = json.loads(entry.details_json)
            manner = MANNER[entry.kind]
            if facts.get("method"):
                manner = f"{manner}: {facts['method']}"
            if facts.get("loss_kind"):
                manner = f"{manner}: {facts['loss_kind']} (DEA Form 106)"
            dispensing.append(
                DispensingRow(
                    seq=entry.seq,
                    occurred_at=entry.occurred_at,
                    drug=product.drug,
                    form=product.form.value,
                    strength_mg_ml=product.strength_mg_ml,
                    container_ml=product.container_ml,
                    ndc=product_row_.ndc,
                    lot=entry.lot,
                    location=location.name,
                    kind=entry.kind,
                    manner=manner,
                    containers=facts.get("containers"),
                    supplier=_supplier(facts),
                    quantity_ml=abs(entry.quantity_ul) / 1000,
                    quantity_mg=round(product.mg_of(abs(entry.quantity_ul)), 6),
                    balance_after_ml=entry.balance_after_ul / 1000,
                    patient=_patient_label(patient, actor),
                    session_id=entry.session_id,
                    person=entry.actor,
                    witness=entry.witness or "",
                    reason=entry.reason,
                )
            )
        preps = session.execute(
            select(LedgerPreparation, Patient)
            .join(InfusionSession, InfusionSession.id == LedgerPreparation.session_id)
            .join(Patient, Patient.id == InfusionSession.patient_id)
            .where(LedgerPreparation.prepared_at >= since, LedgerPreparation.prepared_at < until)
            .order_by(LedgerPreparation.prepared_at, LedgerPreparation.id)
        ).tuples()
        reconciliations = [
            ReconciliationRow(
                session_id=p.session_id,
                preparation_id=p.id,
                purpose=p.purpose,
                patient=_patient_label(patient, actor),
                prepared_at=p.prepared_at,
                prepared_by=p.prepared_by,
                checked_by=p.checked_by or "",
                prepared_mg=p.prepared_mg,
                administered_mg=p.administered_mg,
                wasted_mg=p.wasted_mg,
                discrepancy_mg=p.discrepancy_mg,
                waste_witness=p.waste_witness or "",
                state=p.state,
            )
            for p, patient in preps
        ]
        counts = session.execute(
            select(LedgerCount)
            .where(
                LedgerCount.counted_at >= since, LedgerCount.counted_at < until, LedgerCount.differences > 0
            )
            .order_by(LedgerCount.counted_at)
        ).scalars()
        differences = [
            CountDifferenceRow(
                count_id=c.id,
                counted_at=c.counted_at,
                location_id=c.location_id,
                product_id=line["product_id"],
                lot=line["lot"],
                expected_ml=line["expected_ml"],
                counted_ml=line["counted_ml"],
                difference_ml=line["difference_ml"],
                reviewed_by=c.reviewed_by or "",
            )
            for c in counts
            for line in json.loads(c.lines_json)
            if line["difference_ml"]
        ]
        inventory = [
            InventoryRow(
                drug=b.drug,
                schedule=b.schedule,
                product=b.product,
                lot=b.lot,
                expiry=b.expiry,
                location=b.location,
                balance_ml=b.balance_ml,
                balance_mg=b.balance_mg,
                sealed_containers=b.sealed_containers,
                open_containers=b.open_containers,
                open_count_method=count_method(
                    rules.inventory, b.schedule, opened=True, units_per_container=None
                ).value,
                quarantined=b.quarantined,
            )
            for b in balance_lines(session, config)
            if drug is None or b.drug == drug.lower()
        ]
    return LedgerReport(
        start=start,
        end=end,
        jurisdiction=rules.name,
        retention_years=rules.retention_years,
        retention_source=rules.retention_source,
        dispensing=dispensing,
        reconciliations=reconciliations,
        discrepancies=[r for r in reconciliations if r.state in ("discrepancy", "accepted")],
        count_differences=differences,
        inventory=inventory,
    )
