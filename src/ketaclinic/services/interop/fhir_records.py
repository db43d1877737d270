"""One patient's FHIR R4 resources from the records: identified, or de-identified with shifted dates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.interop import fhir, fhir_base, fhir_medication
from ketaclinic.interop.codes import systems
from ketaclinic.interop.deidentify import Dates, safe_harbor_birth, shift_days
from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerPreparation, LedgerProduct
from ketaclinic.store.tables.outcomes import ProResponse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.screening import Consent
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
    SessionObservation,
)

# The plan statuses a MedicationRequest is written for: approved (co-signed where it needed it).
EXPORTED_PLAN_STATUSES = ("approved",)
# Free-text flowsheet items never leave the clinic: a note can name anyone.
SKIPPED_ITEMS = frozenset({"note"})
# The Bulk Data file order: referenced resources before the ones that point at them.
RESOURCE_TYPES = (
    "Patient",
    "Medication",
    "Condition",
    "MedicationRequest",
    "Encounter",
    "MedicationDispense",
    "MedicationAdministration",
    "Observation",
    "QuestionnaireResponse",
    "AdverseEvent",
    "Consent",
)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What an export covers: identified or de-identified, and from which day on."""

    deidentified: bool = False
    since: date | None = None


@dataclass(slots=True)
class Collected:
    resources: dict[str, list[fhir_base.Resource]] = field(
        default_factory=lambda: {t: [] for t in RESOURCE_TYPES}
    )

    seen: dict[str, fhir_base.Resource] = field(default_factory=dict)

    def add(self, resource: fhir_base.Resource) -> None:
        """Keep a resource under its type, once (a lot's Medication is shared by the sessions it served)."""
        key = f"{resource['resourceType']}/{resource['id']}"
        earlier = self.seen.get(key)
        if earlier is not None:
            if earlier != resource:  # a mapping fault: two different resources under one id
                raise ConflictError(f"the export would hold two different {key}")
            return
        self.seen[key] = resource
        self.resources[resource["resourceType"]].append(resource)

    def all(self) -> Iterator[fhir_base.Resource]:
        """Every resource, type by type."""
        for resource_type in RESOURCE_TYPES:
            yield from self.resources[resource_type]


def _since_moment(since: date | None) -> datetime | None:
    return None if since is None else datetime.combine(since, time.min, tzinfo=UTC)


def _after(moment: datetime | None, since: datetime | None) -> bool:
    return since is None or (moment is not None and moment >= since)


def _patient_resource(patient: Patient, dates: Dates, options: ExportOptions) -> fhir_base.Resource:
    pseudonym = (systems().pseudonym, patient.pseudonym)
    if options.deidentified:
        birth_year, age_group = safe_harbor_birth(patient.birth_date, date.today())
        return fhir.patient(
            patient.pseudonym,
            identifiers=[pseudonym],
            sex=patient.sex,
            birth_date=birth_year,
            age_group=age_group,
        )
    return fhir.patient(
        patient.pseudonym,
        identifiers=[(systems().mrn, patient.mrn), pseudonym],
        sex=patient.sex,
        birth_date=dates.day(patient.birth_date),
        family_name=patient.family_name,
        given_name=patient.given_name,
        email=patient.contact_email,
        phone=patient.contact_phone,
        address=patient.contact_address,
    )


def _patient_part(patient: Patient, dates: Dates, out: Collected, since: datetime | None) -> None:
    """Conditions and body measurements."""
    pid = patient.pseudonym
    for diagnosis in patient.diagnoses:
        entry = get_diagnosis(diagnosis.code)
        out.add(
            fhir.condition(
                f"{pid}-{entry.code.replace('.', '-')}",
                patient_id=pid,
                icd10cm=entry.code,
                label=entry.label,
                snomed=entry.snomed,
                primary=diagnosis.primary,
                recorded_date=dates.day(patient.created_at.date()),
            )
        )
    for m in patient.measurements:
        if m.struck_out_at is not None:
            continue
        measured = datetime.combine(m.measured_on, time(12), tzinfo=UTC)
        if not _after(measured, since):
            continue
        for kind, value in (("weight", m.weight_kg), ("height", m.height_cm)):
            if value is not None:
                out.add(
                    fhir.body_observation(
                        f"measurement-{m.id}-{kind}",
                        patient_id=pid,
                        kind=kind,
                        value=value,
                        effective=dates.day(m.measured_on),
                    )
                )


def _plan_resource(plan: DosePlanRow, pid: str, dates: Dates, options: ExportOptions) -> fhir_base.Resource:
    return fhir_medication.medication_request(
        f"plan-{plan.id}",
        patient_id=pid,
        status=plan.status,
        authored_on=dates.optional(plan.approved_at),
        protocol_id=plan.protocol_id,
        session_count=plan.session_count,
        series_total_mg=plan.series_total_mg,
        concentration_mg_ml=plan.concentration_mg_ml,
        dosing_weight_kg=plan.dosing_weight_kg,
        requester=None if options.deidentified else plan.approved_by,
    )


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


def _session_part(
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
    segments = list(
        session.execute(
            select(RateSegment).where(RateSegment.session_id == sitting.id).order_by(RateSegment.started_at)
        ).scalars()
    )
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
    for med in session.execute(
        select(SessionMedication).where(SessionMedication.session_id == sitting.id)
    ).scalars():
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
    for row in session.execute(
        select(SessionObservation)
        .where(SessionObservation.session_id == sitting.id)
        .order_by(SessionObservation.observed_at)
    ).scalars():
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
    for event in session.execute(
        select(SessionAdverseEvent).where(SessionAdverseEvent.session_id == sitting.id)
    ).scalars():
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


def _pro_answers(answers: dict[str, Any], deidentified: bool) -> dict[str, Any]:
    """The stored answers; free-text answers stay in the clinic when de-identified."""
    if not deidentified:
        return answers
    kept: dict[str, Any] = {}
    for key, value in answers.items():
        if isinstance(value, dict):
            kept[key] = _pro_answers(value, deidentified)
        elif not isinstance(value, str) or key in ("recall", "loinc", "band", "label"):
            kept[key] = value
    return kept


def patient_resources(
    session: Session, patient: Patient, secret: str, options: ExportOptions, out: Collected
) -> bool:
    """Add one patient's resources; False when the patient has nothing since `options.since`."""
    dates = Dates(shift_days(secret, patient.pseudonym)) if options.deidentified else Dates()
    since = _since_moment(options.since)
    pid = patient.pseudonym
    part = Collected()
    _patient_part(patient, dates, part, since)
    plans = {
        p.id: p
        for p in session.execute(
            select(DosePlanRow).where(
                DosePlanRow.patient_id == patient.id, DosePlanRow.status.in_(EXPORTED_PLAN_STATUSES)
            )
        ).scalars()
    }
    sittings = session.execute(
        select(InfusionSession)
        .where(InfusionSession.patient_id == patient.id, InfusionSession.plan_id.in_(list(plans) or [-1]))
        .order_by(InfusionSession.scheduled_on, InfusionSession.session_number)
    ).scalars()
    used_plans: set[int] = set()
    for sitting in sittings:
        if options.since is not None and sitting.scheduled_on < options.since:
            continue
        used_plans.add(sitting.plan_id)
        _session_part(session, sitting, pid, dates, options, part)
    for plan_id, plan in plans.items():
        if plan_id in used_plans or _after(plan.approved_at, since):
            part.add(_plan_resource(plan, pid, dates, options))
    for pro in session.execute(
        select(ProResponse).where(ProResponse.patient_id == patient.id).order_by(ProResponse.collected_at)
    ).scalars():
        if _after(pro.collected_at, since):
            part.add(
                fhir.questionnaire_response(
                    f"pro-{pro.id}",
                    patient_id=pid,
                    authored=dates.moment(pro.collected_at),
                    timepoint=pro.timepoint,
                    answers=_pro_answers(json.loads(pro.answers_json), options.deidentified),
                )
            )
    for row in session.execute(select(Consent).where(Consent.patient_id == patient.id)).scalars():
        if _after(row.patient_signed_at, since):
            part.add(
                fhir.consent(
                    f"consent-{row.id}",
                    patient_id=pid,
                    status=row.status,
                    signed_at=dates.moment(row.patient_signed_at),
                    protocol_id=row.protocol_id,
                    template_version=row.template_version,
                )
            )
    active = _after(patient.created_at, since) or any(
        part.resources[t] for t in RESOURCE_TYPES if t not in ("Condition",)
    )
    if not active:
        return False
    out.add(_patient_resource(patient, dates, options))
    for resource in part.all():
        out.add(resource)
    return True
