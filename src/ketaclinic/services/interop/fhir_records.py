"""One patient's FHIR R4 resources from the records: identified, or de-identified with shifted dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.interop import fhir, fhir_base, fhir_medication
from ketaclinic.interop.codes import systems
from ketaclinic.interop.deidentify import Dates, safe_harbor_birth, shift_days
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.services.interop.fhir_collection import RESOURCE_TYPES, Collected, ExportOptions
from ketaclinic.services.interop.fhir_session_records import session_resources
from ketaclinic.store.tables.outcomes import ProResponse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.screening import Consent
from ketaclinic.store.tables.sessions import InfusionSession

# The plan statuses a MedicationRequest is written for: approved (co-signed where it needed it).
EXPORTED_PLAN_STATUSES = ("approved",)


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
        session_resources(session, sitting, pid, dates, options, part)
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
