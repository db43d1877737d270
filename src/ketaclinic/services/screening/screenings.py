"""Screening records: pre-filled intake, evaluation with evidence, physician signature, addenda; plan gate."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import CleanText
from ketaclinic.screening import ClinicRate, ScreeningResult, evaluate, parse_intake
from ketaclinic.screening.intake import INTAKE_VERSION
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.eligibility import (
    SIGNED,
)
from ketaclinic.services.outcomes.rates import clinic_response_rates
from ketaclinic.services.patients.records import age_years, full_name, latest_measure, load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.versions import ReadVersion, check_version
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.screening import Screening, ScreeningAddendum

DRAFT = "draft"
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), CleanText]


class ScreeningIn(BaseModel):
    """A screening to create or a draft to replace: the raw intake (validated by `parse_intake`)."""

    model_config = ConfigDict(extra="forbid")
    intake: dict[str, Any]
    planned_high_frequent_dosing: bool = False


class ScreeningUpdate(ScreeningIn):
    """A draft's new intake, with the `version` of the draft that was read."""

    version: ReadVersion


class SignIn(BaseModel):
    """A physician's signature on a draft, naming the `version` of the draft they read."""

    version: ReadVersion


class AddendumIn(BaseModel):
    """A note added to a signed screening."""

    model_config = ConfigDict(extra="forbid")
    text: Note


class AddendumOut(BaseModel):
    """An addendum as shown."""

    id: int
    text: str
    created_at: datetime
    created_by: str


class ScreeningOut(BaseModel):
    """A stored screening: intake, the evaluation as computed, who signed it and when."""

    id: int
    version: int
    patient_id: int
    status: str
    verdict: str
    intake_version: str
    rules_version: str
    intake: dict[str, Any]
    result: dict[str, Any]
    created_at: datetime
    created_by: str
    updated_at: datetime
    signed_at: datetime | None
    signed_by: str | None
    addenda: list[AddendumOut]


# --- evaluation ---------------------------------------------------------------------------------


def _clinic_rates(session: Session) -> dict[str, ClinicRate]:
    """The clinic's own response rate per diagnosis group (from the outcomes service)."""
    return dict(clinic_response_rates(session))


def _evaluate(session: Session, data: ScreeningIn) -> tuple[dict[str, Any], ScreeningResult]:
    intake = parse_intake(data.intake)
    result = evaluate(
        intake,
        clinic_rates=_clinic_rates(session),
        planned_high_frequent_dosing=data.planned_high_frequent_dosing,
    )
    return intake.model_dump(mode="json"), result


def evaluate_intake(db: Database, actor: Actor, data: ScreeningIn) -> dict[str, Any]:
    """Evaluate an intake without storing anything (the clinic's own rates included)."""
    require(actor, Permission.SCREENING_EDIT)
    with db.transaction() as session:
        return _evaluate(session, data)[1].to_json_dict()


def intake_prefill(db: Database, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The intake fields the registry already knows for this patient (viewing is audited)."""
    require(actor, Permission.SCREENING_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        audit(session, actor, "view", "patient", patient.id, reason="screening intake pre-fill")
        return _prefill(patient)


def _prefill(patient: Patient) -> dict[str, Any]:
    prefill: dict[str, Any] = {
        "intake_version": INTAKE_VERSION,
        "age_y": age_years(patient.birth_date),
        "sex": patient.sex,
        "diagnoses": [d.code for d in patient.diagnoses],
        "prior_treatments": [{"name": t.name, "outcome": t.outcome} for t in patient.prior_treatments],
    }
    weight_kg = latest_measure(patient, "weight_kg")
    if weight_kg is not None:
        prefill["weight_kg"] = weight_kg
    if patient.pain_mechanism:
        prefill["pain_mechanism"] = patient.pain_mechanism
    if patient.pain_duration_months is not None:
        prefill["pain_duration_months"] = patient.pain_duration_months
    return prefill


# --- screening records --------------------------------------------------------------------------


def _out(screening: Screening, addenda: list[ScreeningAddendum]) -> ScreeningOut:
    return ScreeningOut(
        id=screening.id,
        version=screening.version,
        patient_id=screening.patient_id,
        status=screening.status,
        verdict=screening.verdict,
        intake_version=screening.intake_version,
        rules_version=screening.rules_version,
        intake=json.loads(screening.intake_json),
        result=json.loads(screening.result_json),
        created_at=screening.created_at,
        created_by=screening.created_by,
        updated_at=screening.updated_at,
        signed_at=screening.signed_at,
        signed_by=screening.signed_by,
        addenda=[
            AddendumOut(id=a.id, text=a.text, created_at=a.created_at, created_by=a.created_by)
            for a in addenda
        ],
    )


def _addenda(session: Session, screening_id: int) -> list[ScreeningAddendum]:
    return list(
        session.execute(
            select(ScreeningAddendum)
            .where(ScreeningAddendum.screening_id == screening_id)
            .order_by(ScreeningAddendum.id)
        ).scalars()
    )


def _load(session: Session, screening_id: int, *, for_update: bool = False) -> Screening:
    # for_update: a concurrent editor waits, then reads the version the first one wrote.
    screening = session.get(Screening, screening_id, with_for_update=for_update)
    if screening is None:
        raise NotFoundError(f"no screening {screening_id}")
    return screening


def audited_fields(screening: Screening) -> dict[str, Any]:
    """The audited fields of a screening (what its create and update events record)."""
    return {
        "status": screening.status,
        "verdict": screening.verdict,
        "rules_version": screening.rules_version,
        "intake": json.loads(screening.intake_json),
        "version": screening.version,
    }


def create_screening(db: Database, actor: Actor, patient_id: int, data: ScreeningIn) -> ScreeningOut:
    """Store a draft screening with its evaluation."""
    require(actor, Permission.SCREENING_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        intake, result = _evaluate(session, data)
        now = utcnow()
        screening = Screening(
            patient_id=patient.id,
            status=DRAFT,
            intake_version=result.intake_version,
            intake_json=canonical_json(intake),
            result_json=canonical_json(result.to_json_dict()),
            verdict=result.verdict.value,
            rules_version=result.rules_version,
            created_at=now,
            created_by=actor.username,
            updated_at=now,
        )
        session.add(screening)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "screening",
            screening.id,
            field_changes(None, audited_fields(screening)),
        )
        return _out(screening, [])


def update_screening(db: Database, actor: Actor, screening_id: int, data: ScreeningUpdate) -> ScreeningOut:
    """Replace a draft's intake and re-evaluate; a signed screening is locked, a stale version is refused."""
    require(actor, Permission.SCREENING_EDIT)
    with db.transaction() as session:
        screening = _load(session, screening_id, for_update=True)
        if screening.status != DRAFT:
            raise ConflictError(
                f"screening {screening_id} is signed and locked: start a new screening or add an addendum"
            )
        before = audited_fields(screening)
        check_version(session, "screening", screening, screening.id, data.version, before)
        intake, result = _evaluate(session, data)
        screening.intake_version = result.intake_version
        screening.intake_json = canonical_json(intake)
        screening.result_json = canonical_json(result.to_json_dict())
        screening.verdict = result.verdict.value
        screening.rules_version = result.rules_version
        if field_changes(before, audited_fields(screening)):
            screening.updated_at = utcnow()  # only a real change moves the time and the version
        session.flush()
        changes = field_changes(before, audited_fields(screening))
        if changes:
            audit(session, actor, "update", "screening", screening.id, changes)
        return _out(screening, [])


def sign_screening(db: Database, actor: Actor, screening_id: int, data: SignIn) -> ScreeningOut:
    """A physician signs the draft they read; it is locked from then on (twice, or a stale version: 409)."""
    require(actor, Permission.SCREENING_SIGN)
    with db.transaction() as session:
        screening = _load(session, screening_id, for_update=True)
        if screening.status != DRAFT:
            raise ConflictError(f"screening {screening_id} was already signed by {screening.signed_by}")
        check_version(session, "screening", screening, screening.id, data.version, audited_fields(screening))
        screening.status = SIGNED
        screening.signed_at = utcnow()
        screening.signed_by = actor.username
        audit(
            session,
            actor,
            "sign",
            "screening",
            screening.id,
            {
                "status": {"old": DRAFT, "new": SIGNED},
                "verdict": {"old": screening.verdict, "new": screening.verdict},
            },
        )
        return _out(screening, _addenda(session, screening.id))


def add_addendum(db: Database, actor: Actor, screening_id: int, data: AddendumIn) -> ScreeningOut:
    """Add a note to a signed screening (a draft is edited instead: 409)."""
    require(actor, Permission.SCREENING_EDIT)
    with db.transaction() as session:
        screening = _load(session, screening_id)
        if screening.status != SIGNED:
            raise ConflictError(f"screening {screening_id} is a draft: edit it instead of adding an addendum")
        addendum = ScreeningAddendum(
            screening_id=screening.id, text=data.text, created_at=utcnow(), created_by=actor.username
        )
        session.add(addendum)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "screening_addendum",
            addendum.id,
            {"screening_id": {"old": None, "new": screening.id}, "text": {"old": None, "new": data.text}},
        )
        return _out(screening, _addenda(session, screening.id))


def get_screening(db: Database, actor: Actor, screening_id: int) -> ScreeningOut:
    """Open one screening (audited)."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.transaction() as session:
        screening = _load(session, screening_id)
        audit(session, actor, "view", "screening", screening.id)
        return _out(screening, _addenda(session, screening.id))


def list_screenings(db: Database, actor: Actor, patient_id: int) -> list[ScreeningOut]:
    """A patient's screenings, newest first (audited as a view of the patient's record)."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        rows = session.execute(
            select(Screening)
            .where(Screening.patient_id == patient.id)
            .order_by(Screening.created_at.desc(), Screening.id.desc())
        ).scalars()
        out = [_out(s, _addenda(session, s.id)) for s in rows]
        audit(session, actor, "view", "patient", patient.id, reason="screenings")
        return out


class ScreeningSummary(BaseModel):
    """A row of the recent-screenings list."""

    id: int
    patient_id: int
    patient_name: str
    mrn: str
    status: str
    verdict: str
    created_at: datetime
    created_by: str
    signed_at: datetime | None
    signed_by: str | None


def recent_screenings(db: Database, actor: Actor, *, limit: int = 100) -> list[ScreeningSummary]:
    """The newest screenings across patients, with their verdicts (clinical staff)."""
    require(actor, Permission.PATIENTS_VIEW)
    if not 1 <= limit <= 500:
        raise InputError("limit must be 1-500", field="limit")
    with db.transaction() as session:
        rows = session.execute(
            select(Screening, Patient)
            .join(Patient, Patient.id == Screening.patient_id)
            .order_by(Screening.updated_at.desc(), Screening.id.desc())
            .limit(limit)
        ).all()
        return [
            ScreeningSummary(
                id=s.id,
                patient_id=p.id,
                patient_name=full_name(p),
                mrn=p.mrn,
                status=s.status,
                verdict=s.verdict,
                created_at=s.created_at,
                created_by=s.created_by,
                signed_at=s.signed_at,
                signed_by=s.signed_by,
            )
            for s, p in rows
        ]
