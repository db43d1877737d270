"""A patient's dated weights and heights: record one (a doubtful weight needs a confirmed reason), strike
one out that was entered in error (audited, never deleted) so the one before is on record again."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ketaclinic.dosing.bounds import MAX_HEIGHT_CM, MAX_WEIGHT_KG, MIN_HEIGHT_CM, MIN_WEIGHT_KG
from ketaclinic.dosing.weight_checks import WeightPolicy
from ketaclinic.errors import ConflictError, FieldChange, NotFoundError
from ketaclinic.inputs import CleanText, IsoDate
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import (
    PatientOut,
    age_years,
    load_patient,
    measurements_on_record,
    patient_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.versions import ReadVersion, check_version, version_change
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Measurement, Patient

Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), CleanText]


class MeasurementIn(BaseModel):
    """A dated weight and/or height; `confirm_reason` confirms a weight the checks question."""

    model_config = ConfigDict(extra="forbid")
    measured_on: IsoDate = Field(default_factory=date.today)
    weight_kg: float | None = Field(default=None, ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    height_cm: float | None = Field(default=None, ge=MIN_HEIGHT_CM, le=MAX_HEIGHT_CM)
    confirm_reason: Reason = ""

    @model_validator(mode="after")
    def _something(self) -> MeasurementIn:
        if self.weight_kg is None and self.height_cm is None:
            raise ValueError("give a weight_kg or a height_cm")
        if self.measured_on > date.today():
            raise ValueError("measured_on is in the future")
        return self


class StrikeOutIn(BaseModel):
    """Striking out a measurement entered in error needs a reason and the `version` of it that was read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), CleanText]


def neighbouring_weight(patient: Patient, on: date) -> float | None:
    """What a weight measured `on` is compared with: the last on or before that date, else the first after."""
    weights = measurements_on_record(patient, "weight_kg")
    before = [m for m in weights if m.measured_on <= on]
    if before:
        return before[-1].weight_kg
    return weights[0].weight_kg if weights else None


def weight_doubts(policy: WeightPolicy, patient: Patient, weight_kg: float, on: date) -> list[str]:
    """Why a new registry weight needs confirming: far from its neighbour, or implausible for the age."""
    doubts = []
    previous = neighbouring_weight(patient, on)
    if previous is not None and (found := policy.discrepancy(weight_kg, previous)) is not None:
        doubts.append(found.describe("the last recorded weight"))
    implausible = policy.implausibility(weight_kg, age_years(patient.birth_date, on))
    if implausible is not None:
        doubts.append(implausible)
    return doubts


def add_measurement(
    db: Database,
    actor: Actor,
    patient_id: int,
    data: MeasurementIn,
    *,
    config: Settings | Path | None,
) -> PatientOut:
    """Record a dated weight and/or height; a doubtful weight without confirm_reason is a 409 on weight_kg."""
    require(actor, Permission.PATIENTS_EDIT)
    policy = clinic_library(config).weights
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        doubts = (
            [] if data.weight_kg is None else weight_doubts(policy, patient, data.weight_kg, data.measured_on)
        )
        if doubts and not data.confirm_reason:
            raise ConflictError(
                "; ".join(doubts) + ": check the weight, or confirm it with a reason (confirm_reason)",
                field="weight_kg",
            )
        patient.measurements.append(
            Measurement(
                measured_on=data.measured_on,
                weight_kg=data.weight_kg,
                height_cm=data.height_cm,
                confirm_reason=data.confirm_reason if doubts else None,
            )
        )
        session.flush()
        patient.measurements.sort(key=lambda m: (m.measured_on, m.id))
        new = data.model_dump(mode="json", exclude={"confirm_reason"})
        audit(
            session,
            actor,
            "create",
            "measurement",
            patient.id,
            {"measurement": {"old": None, "new": new}}
            | ({"doubts": {"old": None, "new": doubts}} if doubts else {}),
            data.confirm_reason if doubts else "",
        )
        return patient_out(patient)


def _strike_of(row: Measurement) -> tuple[FieldChange, ...]:
    """What can change on a measurement once recorded: its strike-out (kept on the row itself)."""
    if row.struck_out_at is None:
        return ()
    return (FieldChange("struck_out", row.strike_reason, row.struck_out_by, row.struck_out_at),)


def strike_out_measurement(
    db: Database, actor: Actor, patient_id: int, measurement_id: int, data: StrikeOutIn
) -> PatientOut:
    """Mark a measurement entered in error as struck out (kept and audited); the one before is on record."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id, for_update=True)
        row = next((m for m in patient.measurements if m.id == measurement_id), None)
        if row is None:
            raise NotFoundError(
                f"patient {patient_id} has no measurement {measurement_id}", field="measurement_id"
            )
        check_version(session, "measurement", row, row.id, data.version, {}, since=lambda: _strike_of(row))
        if row.struck_out_at is not None:
            raise ConflictError(
                f"measurement {measurement_id} was struck out by {row.struck_out_by}", field="measurement_id"
            )
        row.struck_out_at = utcnow()
        row.struck_out_by = actor.username
        row.strike_reason = data.reason
        read_version = row.version
        session.flush()
        audit(
            session,
            actor,
            "strike_out",
            "measurement",
            patient.id,
            {
                "measurement": {
                    "old": {
                        "id": row.id,
                        "measured_on": row.measured_on.isoformat(),
                        "weight_kg": row.weight_kg,
                        "height_cm": row.height_cm,
                    },
                    "new": None,
                }
            }
            | version_change(read_version, row),
            data.reason,
        )
        return patient_out(patient)
