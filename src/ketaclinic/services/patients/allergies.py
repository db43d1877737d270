"""A patient's allergies: record one, strike one out entered in error (kept, audited), or record that
the patient has no known allergies (a state of its own, distinct from never having been asked).

Each is an edit of the patient's record: it names the record's version it read, a stale one is refused
(StaleVersionError), and the patient's version moves on."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.inputs import CleanText, SingleLine
from ketaclinic.services.patients.records import (
    AllergySeverity,
    PatientOut,
    allergies_on_record,
    allergy_status,
    load_patient,
    patient_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.versions import ReadVersion, audited_edit, check_version
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Allergy, Patient


class AllergyIn(BaseModel):
    """An allergy as recorded: substance (free text, a code where there is one), reaction, severity."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    substance: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine
    ]
    substance_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), SingleLine] | None
    ) = None
    reaction: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), CleanText
    ]
    severity: AllergySeverity


class AllergyStrikeOutIn(BaseModel):
    """Striking out an allergy entered in error needs a reason."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), CleanText]


class NoKnownAllergiesIn(BaseModel):
    """Recording that the patient was asked and has no known allergies."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion


def _allergy_snapshot(patient: Patient) -> dict[str, Any]:
    """The allergy fields of the record as a stale editor is shown them."""
    return {
        "allergies": [[a.substance, a.reaction, a.severity] for a in allergies_on_record(patient)],
        "allergy_status": allergy_status(patient),
    }


def _edit(session: Session, patient_id: int, read_version: int) -> Patient:
    """The patient row locked for this edit, refused when the editor read another version."""
    patient = load_patient(session, patient_id, for_update=True)
    check_version(session, "patient", patient, patient.id, read_version, _allergy_snapshot(patient))
    return patient


def add_allergy(db: Database, actor: Actor, patient_id: int, data: AllergyIn) -> PatientOut:
    """Record an allergy; a "no known allergies" answer on record no longer holds and is cleared."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = _edit(session, patient_id, data.version)
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
        session.flush()  # the new row's id, for the audit event
        added = {"id": row.id} | data.model_dump(mode="json", exclude={"version"})
        changes = {
            "allergy": {"old": None, "new": added},
            "allergy_status": {"old": before, "new": allergy_status(patient)},
        }
        audited_edit(session, actor, patient, "patient", "add_allergy", changes, data.version)
        return patient_out(patient)


def strike_out_allergy(
    db: Database, actor: Actor, patient_id: int, allergy_id: int, data: AllergyStrikeOutIn
) -> PatientOut:
    """Mark an allergy entered in error as struck out (kept and audited, with the reason)."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = _edit(session, patient_id, data.version)
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
        changes = {
            "allergy": {"old": {"id": row.id, "substance": row.substance}, "new": None},
            "allergy_status": {"old": before, "new": allergy_status(patient)},
        }
        audited_edit(
            session, actor, patient, "patient", "strike_out_allergy", changes, data.version, data.reason
        )
        return patient_out(patient)


def record_no_known_allergies(
    db: Database, actor: Actor, patient_id: int, data: NoKnownAllergiesIn
) -> PatientOut:
    """Record that the patient was asked and has no known allergies (refused while one is on record)."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = _edit(session, patient_id, data.version)
        active = allergies_on_record(patient)
        if active:
            names = ", ".join(a.substance for a in active)
            raise ConflictError(
                f"allergies are on record ({names}): strike them out first if they were entered in error",
                field="allergies",
            )
        if patient.no_known_allergies_at is not None:
            return patient_out(patient)  # already recorded (a double click): nothing written, no new version
        before = allergy_status(patient)
        patient.no_known_allergies_at = utcnow()
        patient.no_known_allergies_by = actor.username
        changes = {"allergy_status": {"old": before, "new": allergy_status(patient)}}
        audited_edit(session, actor, patient, "patient", "update", changes, data.version)
        return patient_out(patient)
