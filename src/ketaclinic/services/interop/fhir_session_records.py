"""One session's FHIR R4 resources: its Encounter, what was charted in it (infusion segments, doses,
observations, adverse events) and what the ledger dispensed for it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ketaclinic.interop import fhir, fhir_base, fhir_medication
from ketaclinic.interop.deidentify import Dates
from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.services.interop.fhir_collection import Collected, ExportOptions
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerPreparation, LedgerProduct
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
    SessionObservation,
)

# Free-text flowsheet items never leave the clinic: a note can name anyone.
SKIPPED_ITEMS = frozenset({"note"})


# What a session's chart holds, one table each.
_Charted = TypeVar("_Charted", RateSegment, SessionMedication, SessionObservation, SessionAdverseEvent)


def _lot(product: LedgerProduct, prep: LedgerPreparation, expiry: date, dates: Dates) -> fhir_medication.Lot:
    return fhir_medication.Lot(
        product_id=product.id,
        drug=product.drug,
        form=product.form,
        strength_mg_ml=product.strength_mg_ml,
        container_ml=product.container_ml,
        ndc=product.ndc,
        lot=prep.lot,
        expiry=dates.day(expiry),
    )


def _waste_note(prep: LedgerPreparation, options: ExportOptions) -> str | None:
    """How the rest was wasted and who witnessed it: free text and a name, so identified exports only."""
    if options.deidentified or not prep.wasted_mg or prep.waste_method is None:
        return None
    witnessed = f", witnessed by {prep.waste_witness}" if prep.waste_witness else ""
    return f"waste: {prep.waste_method}{witnessed}"


def _ledger_part(
    session: Session,
    sitting: InfusionSession,
    pid: str,
    dates: Dates,
    options: ExportOptions,
    out: Collected,
) -> dict[int | None, str]:
    """The session's preparations as MedicationDispenses of their lots' Medications; the Medication id of
    each (None: the infusion bag; else the charted dose it was dispensed for)."""
    lots: dict[int | None, str] = {}
    rows = session.execute(
        select(LedgerPreparation, LedgerProduct)
        .join(LedgerProduct, LedgerProduct.id == LedgerPreparation.product_id)
        .where(LedgerPreparation.session_id == sitting.id)
        .order_by(LedgerPreparation.id)
    ).all()
    for prep, product in rows:
        # The lot's earliest expiry: one value per lot, however many boxes of it were received.
        expiry = session.execute(
            select(func.min(LedgerContainer.expiry)).where(
                LedgerContainer.product_id == product.id, LedgerContainer.lot == prep.lot
            )
        ).scalar_one()
        # A shifted expiry differs by patient, so a de-identified lot is the patient's own copy.
        owner = pid if options.deidentified else None
        medication_id = fhir_medication.lot_medication_id(product.id, prep.lot, owner)
        out.add(fhir_medication.lot_medication(medication_id, _lot(product, prep, expiry, dates)))
        is_bag = prep.medication_id is None
        lots[None if is_bag else prep.medication_id] = medication_id
        reconciled = (
            fhir_medication.Reconciled(
                administered_mg=prep.administered_mg or 0.0,
                wasted_mg=prep.wasted_mg,
                discrepancy_mg=prep.discrepancy_mg or 0.0,
                state=prep.state,
            )
            if prep.wasted_mg is not None
            else None
        )
        route = "intravenous"
        if not is_bag:
            charted = session.get(SessionMedication, prep.medication_id)
            route = charted.route if charted is not None else route
        out.add(
            fhir_medication.preparation_dispense(
                f"prep-{prep.id}",
                patient_id=pid,
                encounter_id=f"session-{sitting.id}",
                medication_id=medication_id,
                request_id=f"plan-{sitting.plan_id}" if is_bag else None,
                purpose=prep.purpose,
                prepared_mg=prep.prepared_mg,
                drawn_ml=prep.drawn_ul / 1000,
                final_volume_ml=prep.final_volume_ml,
                concentration_mg_ml=prep.concentration_mg_ml,
                diluent=None if options.deidentified else prep.diluent,  # typed by the nurse: free text
                route=route,
                prepared_at=dates.moment(prep.prepared_at),
                reconciled=reconciled,
                prepared_by=None if options.deidentified else prep.prepared_by,
                checked_by=None if options.deidentified else prep.checked_by,
                waste_note=_waste_note(prep, options),
            )
        )
    return lots


def _observation_values(row: SessionObservation) -> Iterator[tuple[str, float | bool, str | None]]:
    values: dict[str, Any] = json.loads(row.values_json)
    interpretation: dict[str, str] = json.loads(row.interpretation_json)
    for key, value in values.items():
        if key in SKIPPED_ITEMS or value is None or key not in observation_kinds():
            continue
        if isinstance(value, list):  # item scores of a short form: the total is the observation
            value = sum(value)
        if isinstance(value, bool | int | float):
            yield key, value, interpretation.get(key)


def _charted(
    session: Session, table: type[_Charted], sitting: InfusionSession, *order_by: InstrumentedAttribute[Any]
) -> Sequence[_Charted]:
    """The rows of one kind charted in a session, in the order given (else as stored)."""
    return (
        session.execute(select(table).where(table.session_id == sitting.id).order_by(*order_by))
        .scalars()
        .all()
    )


def session_resources(
    session: Session,
    sitting: InfusionSession,
    pid: str,
    dates: Dates,
    options: ExportOptions,
    out: Collected,
) -> None:
    """The Encounter of a session, what was charted in it, and what the ledger issued for it."""
    encounter_id = f"session-{sitting.id}"
    plan_id = f"plan-{sitting.plan_id}"
    lots = _ledger_part(session, sitting, pid, dates, options, out)
    bag_lot = lots.get(None)
    out.add(
        fhir.encounter(
            encounter_id,
            patient_id=pid,
            state=sitting.state,
            session_number=sitting.session_number,
            start=dates.optional(sitting.started_at or sitting.checked_in_at),
            end=dates.optional(sitting.discharged_at or sitting.ended_at),
        )
    )
    segments = _charted(session, RateSegment, sitting, RateSegment.started_at)
    for index, segment in enumerate(segments):
        if segment.rate_mg_h <= 0:  # a pause or the stop: nothing runs, so nothing is administered
            continue
        following = segments[index + 1].started_at if index + 1 < len(segments) else sitting.ended_at
        out.add(
            fhir_medication.rate_administration(
                f"segment-{segment.id}",
                patient_id=pid,
                encounter_id=encounter_id,
                request_id=plan_id,
                start=dates.moment(segment.started_at),
                end=dates.optional(following),
                rate_mg_h=segment.rate_mg_h,
                pump_ml_h=segment.pump_ml_h,
                concentration_mg_ml=segment.concentration_mg_ml,
                in_progress=following is None,
                medication_id=bag_lot or fhir_base.KETAMINE_ID,
            )
        )
    for med in _charted(session, SessionMedication, sitting):
        out.add(
            fhir_medication.dose_administration(
                f"dose-{med.id}",
                patient_id=pid,
                encounter_id=encounter_id,
                request_id=plan_id,
                given_at=dates.moment(med.given_at),
                medication_name=med.medication,
                dose=med.dose,
                unit=med.unit,
                route=med.route,
                purpose=med.purpose,
                # A ketamine bolus runs from the bag; a controlled dose from the vial it was dispensed from.
                medication_id=lots.get(med.id)
                or (bag_lot if med.medication == fhir_base.KETAMINE_ID else None),
            )
        )
    kinds = observation_kinds()
    for row in _charted(session, SessionObservation, sitting, SessionObservation.observed_at):
        for key, value, interpretation in _observation_values(row):
            out.add(
                fhir.observation(
                    f"obs-{row.id}-{key.replace('_', '-')}",
                    patient_id=pid,
                    encounter_id=encounter_id,
                    key=key,
                    value=value,
                    unit=kinds[key].ucum,
                    effective=dates.moment(row.observed_at),
                    interpretation=interpretation,
                )
            )
    for event in _charted(session, SessionAdverseEvent, sitting):
        out.add(
            fhir.adverse_event(
                f"ae-{event.id}",
                patient_id=pid,
                encounter_id=encounter_id,
                kind=event.kind,
                severity=event.severity,
                onset=dates.moment(event.onset_at),
                recorded=dates.moment(event.charted_at),
                cp_at_onset_ng_ml=event.cp_at_onset_ng_ml,
                # Management and outcome are free text: kept for the referrer, dropped for research.
                action=None if options.deidentified else event.action,
                outcome=None if options.deidentified else event.outcome,
            )
        )
