"""A patient's allergies: record one, strike one out entered in error (kept, audited), or record that
the patient has no known allergies (a state of its own, distinct from never having been asked)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.measurements import StrikeOutIn
from ketaclinic.services.patients.records import (
    AllergySeverity,
    PatientOut,
    allergies_on_record,
    allergy_status,
    get_patient_row,
    patient_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Allergy

__all__ = ["AllergyIn", "StrikeOutIn", "add_allergy", "record_no_known_allergies", "strike_out_allergy"]


class AllergyIn(BaseModel):
    """An allergy as recorded: substance (free text, a code where there is one), reaction, severity."""

    model_config = ConfigDict(extra="forbid")
    substance: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    substance_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    reaction: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    severity: AllergySeverity


def add_allergy(db: Database, actor: Actor, patient_id: int, data: AllergyIn) -> PatientOut:
    """Record an allergy; a "no known allergies" answer on record no longer holds and is cleared."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
        before = allergy_status(patient)
        row = Allergy(
            substance=data.substance,
            substance_code=data.substance_code or None,
            reaction=data.reaction,
            severity=data.severity,
            recorded_at=utcnow(),
            recorded_by=actor.username,
        )
        patient.allergies.append(row)
        patient.no_known_allergies_at = None
        patient.no_known_allergies_by = None
        session.flush()
        changes = {
            "allergy": {"old": None, "new": {"id": row.id} | data.model_dump(mode="json")},
            "allergy_status": {"old": before, "new": allergy_status(patient)},
        }
        audit(session, actor, "create", "allergy", patient.id, changes)
        return patient_out(patient)


def strike_out_allergy(
    db: Database, actor: Actor, patient_id: int, allergy_id: int, data: StrikeOutIn
) -> PatientOut:
    """Mark an allergy entered in error as struck out (kept and audited, with the reason)."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
        row = next((a for a in patient.allergies if a.id == allergy_id), None)
        if row is None:
            raise NotFoundError(f"patient {patient_id} has no allergy {allergy_id}", field="allergy_id")
        if row.struck_out_at is not None:
            raise ConflictError(
                f"the {row.substance} allergy was already struck out by {row.struck_out_by}",
                field="allergy_id",
            )
        before = allergy_status(patient)
        row.struck_out_at = utcnow()
        row.struck_out_by = actor.username
        row.strike_reason = data.reason
        session.flush()
        changes = {
            "allergy": {"old": {"id": row.id, "substance": row.substance}, "new": None},
            "allergy_status": {"old": before, "new": allergy_status(patient)},
        }
        audit(session, actor, "strike_out", "allergy", patient.id, changes, data.reason)
        return patient_out(patient)


def record_no_known_allergies(db: Database, actor: Actor, patient_id: int) -> PatientOut:
    """Record that the patient was asked and has no known allergies (refused while one is on record)."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
        active = allergies_on_record(patient)
        if active:
            names = ", ".join(a.substance for a in active)
            raise ConflictError(
                f"allergies are on record ({names}): strike them out first if they were entered in error",
                field="allergies",
            )
        before = allergy_status(patient)
        patient.no_known_allergies_at = utcnow()
        patient.no_known_allergies_by = actor.username
        session.flush()
        changes = {"allergy_status": {"old": before, "new": allergy_status(patient)}}
        audit(session, actor, "update", "allergy", patient.id, changes)
        return patient_out(patient)
