"""The patient registry: register, edit, view (audited) and search; weights in measurements.py."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ketaclinic.dosing.bounds import MAX_HEIGHT_CM, MAX_WEIGHT_KG, MIN_HEIGHT_CM, MIN_WEIGHT_KG
from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import MAX_RECORD_ID, CleanText, IsoDate, SingleLine
from ketaclinic.screening.diagnoses import PainMechanism, get_diagnosis
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.patients.records import (
    Name,
    PatientDeidentified,
    PatientOut,
    PriorTreatmentIn,
    Sex,
    age_years,
    deidentify,
    load_patient,
    patient_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.versions import ReadVersion, bump, check_version
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Measurement, Patient, PatientDiagnosis, PriorTreatment

MAX_AGE_Y = 130


def _check_codes(codes: list[str]) -> list[str]:
    seen: list[str] = []
    for index, code in enumerate(codes):
        normalised = get_diagnosis(code, field=f"diagnoses.{index}").code
        if normalised not in seen:
            seen.append(normalised)
    return seen


def _check_birth_date(value: date) -> date:
    today = date.today()
    if value > today:
        raise ValueError("birth date is in the future")
    if today.year - value.year > MAX_AGE_Y:
        raise ValueError(f"birth date is more than {MAX_AGE_Y} years ago")
    return value


class PatientCreate(BaseModel):
    """What registering a patient takes."""

    model_config = ConfigDict(extra="forbid")
    mrn: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    ]
    family_name: Name
    given_name: Name
    birth_date: IsoDate
    sex: Sex
    weight_kg: float | None = Field(default=None, ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    weight_confirm_reason: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=500), CleanText
    ] = ""
    height_cm: float | None = Field(default=None, ge=MIN_HEIGHT_CM, le=MAX_HEIGHT_CM)
    diagnoses: list[Annotated[str, SingleLine]] = Field(default_factory=list, max_length=20)
    pain_mechanism: PainMechanism | None = None
    pain_duration_months: int | None = Field(default=None, ge=0, le=1200)
    prior_treatments: list[PriorTreatmentIn] = Field(default_factory=list, max_length=50)
    notes: Annotated[str, CleanText] = Field(default="", max_length=5000)

    _birth = field_validator("birth_date")(_check_birth_date)

    @field_validator("diagnoses")
    @classmethod
    def _known_codes(cls, codes: list[str]) -> list[str]:
        return _check_codes(codes)


class PatientUpdate(BaseModel):
    """An edit: only the fields given change; a reason and the `version` the editor read are required."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), CleanText]
    family_name: Name | None = None
    given_name: Name | None = None
    birth_date: IsoDate | None = None
    sex: Sex | None = None
    diagnoses: list[Annotated[str, SingleLine]] | None = Field(default=None, max_length=20)
    pain_mechanism: PainMechanism | None = None
    pain_duration_months: int | None = Field(default=None, ge=0, le=1200)
    prior_treatments: list[PriorTreatmentIn] | None = Field(default=None, max_length=50)
    notes: Annotated[str, CleanText] | None = Field(default=None, max_length=5000)

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: date | None) -> date | None:
        return None if value is None else _check_birth_date(value)

    @field_validator("diagnoses")
    @classmethod
    def _known_codes(cls, codes: list[str] | None) -> list[str] | None:
        return None if codes is None else _check_codes(codes)


def audited_fields(patient: Patient) -> dict[str, Any]:
    """The audited fields of a patient record."""
    return {
        "mrn": patient.mrn,
        "family_name": patient.family_name,
        "given_name": patient.given_name,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex,
        "diagnoses": [d.code for d in patient.diagnoses],
        "pain_mechanism": patient.pain_mechanism,
        "pain_duration_months": patient.pain_duration_months,
        "prior_treatments": [[t.name, t.outcome] for t in patient.prior_treatments],
        "notes": patient.notes,
        "version": patient.version,
    }


def _new_pseudonym(session: Session) -> str:
    while True:
        candidate = "P" + secrets.token_hex(4).upper()
        if not session.execute(select(Patient.id).where(Patient.pseudonym == candidate)).first():
            return candidate


def register_patient(
    db: Database,
    actor: Actor,
    data: PatientCreate,
    *,
    synthetic: bool = False,
    config: Settings | Path | None,
) -> PatientOut:
    """Register a new patient (MRN unique); a weight implausible for the age needs weight_confirm_reason."""
    require(actor, Permission.PATIENTS_EDIT)
    implausible = weight_implausibility(data, config)
    if implausible is not None and not data.weight_confirm_reason:
        raise ConflictError(
            f"{implausible}: check the weight, or confirm it with a reason (weight_confirm_reason)",
            field="weight_kg",
        )
    try:
        with db.transaction() as session:
            return add_patient(session, actor, data, synthetic=synthetic, implausible=implausible)
    except IntegrityError:
        raise ConflictError(f"MRN {data.mrn} is already registered", field="mrn") from None


def weight_implausibility(data: PatientCreate, config: Settings | Path | None) -> str | None:
    """Why the weight is implausible for the age (None when plausible or not given)."""
    if data.weight_kg is None:
        return None
    return clinic_library(config).weights.implausibility(data.weight_kg, age_years(data.birth_date))


def add_patient(
    session: Session, actor: Actor, data: PatientCreate, *, synthetic: bool, implausible: str | None
) -> PatientOut:
    """Add a checked patient in the caller's transaction (MRN unique), audited as a create."""
    if session.execute(select(Patient.id).where(Patient.mrn == data.mrn)).first():
        raise ConflictError(f"MRN {data.mrn} is already registered", field="mrn")
    patient = Patient(
        mrn=data.mrn,
        pseudonym=_new_pseudonym(session),
        family_name=data.family_name,
        given_name=data.given_name,
        birth_date=data.birth_date,
        sex=data.sex,
        pain_mechanism=data.pain_mechanism.value if data.pain_mechanism else None,
        pain_duration_months=data.pain_duration_months,
        notes=data.notes,
        synthetic=synthetic,
        created_at=utcnow(),
    )
    patient.diagnoses = [PatientDiagnosis(code=c, primary=i == 0) for i, c in enumerate(data.diagnoses)]
    patient.prior_treatments = [
        PriorTreatment(name=t.name, outcome=t.outcome.value) for t in data.prior_treatments
    ]
    if data.weight_kg is not None or data.height_cm is not None:
        patient.measurements = [
            Measurement(
                measured_on=date.today(),
                weight_kg=data.weight_kg,
                height_cm=data.height_cm,
                confirm_reason=data.weight_confirm_reason if implausible else None,
            )
        ]
    session.add(patient)
    session.flush()
    changes = field_changes(None, audited_fields(patient))
    if patient.measurements:
        changes["measurement"] = {
            "old": None,
            "new": {"weight_kg": data.weight_kg, "height_cm": data.height_cm},
        }
    reason = data.weight_confirm_reason if implausible else ""
    audit(session, actor, "create", "patient", patient.id, changes, reason)
    return patient_out(patient)


# Columns a patient record always has: an explicit null in an edit is bad input, not a cleared value.
REQUIRED_FIELDS = ("family_name", "given_name", "birth_date", "sex", "notes")


def _sync_diagnoses(patient: Patient, codes: list[str]) -> None:
    """Keep rows of codes that stay (the code is unique per patient), drop the others, add the new."""
    existing = {d.code: d for d in patient.diagnoses}
    patient.diagnoses = [existing.get(code) or PatientDiagnosis(code=code) for code in codes]
    for index, diagnosis in enumerate(patient.diagnoses):
        diagnosis.primary = index == 0


def update_patient(db: Database, actor: Actor, patient_id: int, data: PatientUpdate) -> PatientOut:
    """Change a patient's record; old and new values and the reason are audited.

    An edit based on a version other than the current one changes nothing (StaleVersionError, 409).
    """
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id, for_update=True)
        before = audited_fields(patient)
        check_version(session, "patient", patient, patient.id, data.version, before)
        given = data.model_dump(exclude_unset=True, exclude={"reason", "version"})
        for name in REQUIRED_FIELDS:
            if name in given and given[name] is None:
                raise InputError("cannot be cleared: give a value or leave it out", field=name)
        for name in ("family_name", "given_name", "birth_date", "sex", "pain_duration_months", "notes"):
            if name in given:
                setattr(patient, name, getattr(data, name))
        if "pain_mechanism" in given:
            patient.pain_mechanism = data.pain_mechanism.value if data.pain_mechanism else None
        if data.diagnoses is not None:
            _sync_diagnoses(patient, data.diagnoses)
        if data.prior_treatments is not None:
            patient.prior_treatments = [
                PriorTreatment(name=t.name, outcome=t.outcome.value) for t in data.prior_treatments
            ]
        if field_changes(before, audited_fields(patient)):
            bump(patient)  # also when only diagnoses or prior treatments (child rows) changed
        session.flush()
        changes = field_changes(before, audited_fields(patient))
        if changes:
            audit(session, actor, "update", "patient", patient.id, changes, data.reason)
        return patient_out(patient)


def view_patient(db: Database, actor: Actor, patient_id: int) -> PatientOut:
    """Open a patient's record; the viewing itself is audited."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        audit(session, actor, "view", "patient", patient.id)
        return patient_out(patient)


def list_patients(
    db: Database, actor: Actor, *, query: str = "", limit: int = 50, offset: int = 0
) -> tuple[list[PatientOut] | list[PatientDeidentified], int]:
    """Search the registry: identified for clinical staff, de-identified for researchers."""
    if not actor.can(Permission.PATIENTS_VIEW):
        require(actor, Permission.PATIENTS_VIEW_DEIDENTIFIED)
    if not 1 <= limit <= 500:
        raise InputError("limit must be 1-500", field="limit")
    if not 0 <= offset <= MAX_RECORD_ID:
        raise InputError(f"offset must be 0-{MAX_RECORD_ID}", field="offset")
    with db.transaction() as session:
        statement = select(Patient)
        text = query.strip().lower()
        if text:
            pattern = f"%{text}%"
            if actor.sees_identities:
                statement = statement.where(
                    or_(
                        func.lower(Patient.family_name).like(pattern),
                        func.lower(Patient.given_name).like(pattern),
                        func.lower(Patient.mrn).like(pattern),
                        func.lower(Patient.pseudonym).like(pattern),
                    )
                )
            else:
                statement = statement.where(func.lower(Patient.pseudonym).like(pattern))
        total = int(session.execute(select(func.count()).select_from(statement.subquery())).scalar_one())
        # A researcher's list is in pseudonym order: ordered by name, its sequence would leak the names.
        order = (
            (Patient.family_name, Patient.given_name, Patient.id)
            if actor.sees_identities
            else (Patient.pseudonym, Patient.id)
        )
        rows = session.execute(
            statement.order_by(*order)
            .limit(limit)
            .offset(offset)
            .options(
                selectinload(Patient.measurements),
                selectinload(Patient.diagnoses),
                selectinload(Patient.prior_treatments),
                selectinload(Patient.allergies),
            )
        ).scalars()
        if actor.sees_identities:
            return [patient_out(p) for p in rows], total
        return [deidentify(p) for p in rows], total
