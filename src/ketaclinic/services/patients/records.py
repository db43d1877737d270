"""How a patient record reads: identified and de-identified views, age, latest measures, registry, labels."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.errors import NotFoundError
from ketaclinic.inputs import SingleLine
from ketaclinic.screening.diagnoses import PriorTreatmentOutcome, get_diagnosis
from ketaclinic.services.permissions import Actor
from ketaclinic.store.tables.patients import Allergy, Measurement, Patient

Sex = Literal["female", "male", "other", "unknown"]


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]


class PriorTreatmentIn(BaseModel):
    """A treatment tried before ketamine."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    outcome: PriorTreatmentOutcome


class DiagnosisOut(BaseModel):
    """A coded diagnosis as shown."""

    code: str
    label: str
    snomed: str | None
    group: str


class MeasurementOut(BaseModel):
    """A dated measurement as shown; a struck-out one stays in the list, marked, and is not on record."""

    id: int
    version: int
    measured_on: date
    weight_kg: float | None
    height_cm: float | None
    confirm_reason: str | None
    struck_out_at: datetime | None
    struck_out_by: str | None
    strike_reason: str | None


# How severe the recorded reaction was: FHIR AllergyIntolerance.reaction.severity, plus "unknown".
AllergySeverity = Literal["mild", "moderate", "severe", "unknown"]
# Whether allergies were asked about: none on record is "not_asked" until "no known allergies" is recorded.
AllergyStatus = Literal["not_asked", "no_known_allergies", "allergies_recorded"]
ContactChannel = Literal["email", "sms", "phone", "post"]


class AllergyOut(BaseModel):
    """An allergy as shown; a struck-out one stays in the list, marked, and is not on record."""

    id: int
    substance: str
    substance_code: str | None
    reaction: str
    severity: AllergySeverity
    recorded_at: datetime
    recorded_by: str
    struck_out_at: datetime | None
    struck_out_by: str | None
    strike_reason: str | None


class ContactOut(BaseModel):
    """How the clinic may reach the patient, and whether the patient agreed to be contacted."""

    email: str | None
    phone: str | None
    address: str | None
    preferred_channel: ContactChannel | None
    consent_to_contact: bool | None
    consent_on: date | None


class ReferrerOut(BaseModel):
    """The physician who referred the patient."""

    name: str
    identifier: str | None
    address: str | None
    email: str | None


class PatientOut(BaseModel):
    """The whole identified record (clinical staff only); an edit sends back the `version` it read."""

    id: int
    version: int
    mrn: str
    pseudonym: str
    family_name: str
    given_name: str
    birth_date: date
    age_y: int
    sex: str
    weight_kg: float | None
    height_cm: float | None
    diagnoses: list[DiagnosisOut]
    pain_mechanism: str | None
    pain_duration_months: int | None
    prior_treatments: list[PriorTreatmentIn]
    measurements: list[MeasurementOut]
    notes: str
    synthetic: bool
    allergy_status: AllergyStatus
    allergies: list[AllergyOut]
    no_known_allergies_at: datetime | None
    no_known_allergies_by: str | None
    contact: ContactOut
    referrer: ReferrerOut | None


class PatientDeidentified(BaseModel):
    """What a researcher may see: no names, birth dates, MRNs or free text."""

    pseudonym: str
    age_band: str
    sex: str
    diagnoses: list[str]
    pain_mechanism: str | None
    pain_duration_months: int | None
    synthetic: bool


def age_years(birth_date: date, on: date | None = None) -> int:
    """Completed years of age."""
    today = on or date.today()
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def _age_band(age: int) -> str:
    if age >= 90:
        return "90+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def measurements_on_record(
    patient: Patient, attribute: Literal["weight_kg", "height_cm"]
) -> list[Measurement]:
    """The measurements carrying `attribute`, oldest first; struck-out ones are not on record."""
    return [m for m in patient.measurements if getattr(m, attribute) is not None and m.struck_out_at is None]


def latest_measure(patient: Patient, attribute: Literal["weight_kg", "height_cm"]) -> float | None:
    """The most recent weight or height on record."""
    on_record = measurements_on_record(patient, attribute)
    return getattr(on_record[-1], attribute) if on_record else None


def allergies_on_record(patient: Patient) -> list[Allergy]:
    """The allergies not struck out, oldest first."""
    return [a for a in patient.allergies if a.struck_out_at is None]


def allergy_status(patient: Patient) -> AllergyStatus:
    """Allergies on record, "no known allergies" as answered, or never asked."""
    if allergies_on_record(patient):
        return "allergies_recorded"
    return "not_asked" if patient.no_known_allergies_at is None else "no_known_allergies"


def contact_out(patient: Patient) -> ContactOut:
    """The patient's contact details as shown."""
    return ContactOut(
        email=patient.contact_email,
        phone=patient.contact_phone,
        address=patient.contact_address,
        preferred_channel=cast(ContactChannel | None, patient.contact_channel),
        consent_to_contact=patient.contact_consent,
        consent_on=patient.contact_consent_on,
    )


def referrer_out(patient: Patient) -> ReferrerOut | None:
    """The referring physician as shown, None when none is recorded."""
    if patient.referrer_name is None:
        return None
    return ReferrerOut(
        name=patient.referrer_name,
        identifier=patient.referrer_identifier,
        address=patient.referrer_address,
        email=patient.referrer_email,
    )


def patient_out(patient: Patient) -> PatientOut:
    """The identified output model of a loaded patient row."""
    return PatientOut(
        id=patient.id,
        version=patient.version,
        mrn=patient.mrn,
        pseudonym=patient.pseudonym,
        family_name=patient.family_name,
        given_name=patient.given_name,
        birth_date=patient.birth_date,
        age_y=age_years(patient.birth_date),
        sex=patient.sex,
        weight_kg=latest_measure(patient, "weight_kg"),
        height_cm=latest_measure(patient, "height_cm"),
        diagnoses=[_diagnosis_out(d.code) for d in patient.diagnoses],
        pain_mechanism=patient.pain_mechanism,
        pain_duration_months=patient.pain_duration_months,
        prior_treatments=[
            PriorTreatmentIn(name=t.name, outcome=PriorTreatmentOutcome(t.outcome))
            for t in patient.prior_treatments
        ],
        measurements=[MeasurementOut.model_validate(m, from_attributes=True) for m in patient.measurements],
        notes=patient.notes,
        synthetic=patient.synthetic,
        allergy_status=allergy_status(patient),
        allergies=[AllergyOut.model_validate(a, from_attributes=True) for a in patient.allergies],
        no_known_allergies_at=patient.no_known_allergies_at,
        no_known_allergies_by=patient.no_known_allergies_by,
        contact=contact_out(patient),
        referrer=referrer_out(patient),
    )


def _diagnosis_out(code: str) -> DiagnosisOut:
    d = get_diagnosis(code)
    return DiagnosisOut(code=d.code, label=d.label, snomed=d.snomed, group=d.group)


def deidentify(patient: Patient) -> PatientDeidentified:
    """The researcher's view of a patient."""
    return PatientDeidentified(
        pseudonym=patient.pseudonym,
        age_band=_age_band(age_years(patient.birth_date)),
        sex=patient.sex,
        diagnoses=[d.code for d in patient.diagnoses],
        pain_mechanism=patient.pain_mechanism,
        pain_duration_months=patient.pain_duration_months,
        synthetic=patient.synthetic,
    )


def load_patient(session: Session, patient_id: int, *, for_update: bool = False) -> Patient:
    """A patient with its child rows; `for_update` locks the row until the edit's transaction ends."""
    query = select(Patient).where(Patient.id == patient_id)
    if for_update:
        # A concurrent editor waits here, then reads the version the first one wrote (PostgreSQL;
        # SQLite's BEGIN IMMEDIATE already serialises writers).
        query = query.with_for_update()
    patient = session.execute(
        query.options(
            selectinload(Patient.measurements),
            selectinload(Patient.diagnoses),
            selectinload(Patient.prior_treatments),
            selectinload(Patient.allergies),
        )
    ).scalar_one_or_none()
    if patient is None:
        raise NotFoundError(f"no patient {patient_id}")
    return patient


def full_name(patient: Patient) -> str:
    """Family name, given name: how every list and label writes a patient's name."""
    return f"{patient.family_name}, {patient.given_name}"


def patient_label(patient: Patient, actor: Actor) -> str:
    """Name and MRN for clinical staff, the pseudonym otherwise."""
    if actor.sees_identities:
        return f"{full_name(patient)} ({patient.mrn})"
    return patient.pseudonym
