"""Adverse events (with the predicted Cp at onset) and doses given (premedication, rescue, ketamine bolus)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy.orm import Session

from ketaclinic.dosing import HardLimitError, check_bolus
from ketaclinic.errors import InputError, NotFoundError
from ketaclinic.inputs import IsoDateTime, RecordRef, SingleLine
from ketaclinic.monitoring import AdverseEventKind, AdverseEventSeverity, predicted_cp_at, rescue_medication
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import (
    CHARTABLE,
    INFUSING,
    Config,
    Required,
    Text,
    bolus_doses,
    combined_checks,
    dumps,
    infusions,
    limit_changes,
    minutes_between,
    pk_weight_kg,
    plan_of,
    require_state,
    segment_rows,
    session_row,
    session_total_check,
    soft_prompt,
    when,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, SessionAdverseEvent, SessionMedication

# ---------------------------------------------------------------- adverse events and medications


class AdverseEventIn(BaseModel):
    """An adverse event as charted."""

    model_config = ConfigDict(extra="forbid")
    kind: AdverseEventKind
    severity: AdverseEventSeverity
    onset_at: IsoDateTime | None = None
    action: Required
    outcome: Required
    note: Text = ""

    @model_validator(mode="after")
    def _other_named(self) -> AdverseEventIn:
        if self.kind is AdverseEventKind.OTHER and not self.note:
            raise ValueError("name the event in the note when the kind is 'other'")
        return self


class AdverseEventOut(BaseModel):
    """A charted adverse event with the predicted Cp at its onset and the weight and model it came from
    (None on events charted before those were stored)."""

    id: int
    kind: str
    severity: str
    onset_at: datetime
    t_min: float | None
    cp_at_onset_ng_ml: float
    cp_weight_kg: float | None
    cp_model_key: str | None
    action: str
    outcome: str
    note: str
    charted_by: str


def adverse_event_out(row: InfusionSession, ae: SessionAdverseEvent) -> AdverseEventOut:
    """Output model of an adverse event."""
    return AdverseEventOut(
        id=ae.id,
        kind=ae.kind,
        severity=ae.severity,
        onset_at=ae.onset_at,
        t_min=None if row.started_at is None else minutes_between(row.started_at, ae.onset_at),
        cp_at_onset_ng_ml=ae.cp_at_onset_ng_ml,
        cp_weight_kg=ae.cp_weight_kg,
        cp_model_key=ae.cp_model_key,
        action=ae.action,
        outcome=ae.outcome,
        note=ae.note,
        charted_by=ae.charted_by,
    )


def cp_at(session: Session, row: InfusionSession, at: datetime) -> float:
    """Predicted Cp (ng/mL) at a clock time from what was charted before it (0 before the start)."""
    if row.started_at is None or at <= row.started_at:
        return 0.0
    t = minutes_between(row.started_at, at)
    segments = infusions(row, segment_rows(session, row.id), at)
    return predicted_cp_at(row.model_key, pk_weight_kg(row), segments, t, boluses=bolus_doses(session, row))


def chart_adverse_event(db: Database, actor: Actor, session_id: int, data: AdverseEventIn) -> AdverseEventOut:
    """Chart an adverse event; the predicted Cp at its onset is stored with it."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        require_state(row, CHARTABLE, "chart an adverse event")
        onset = when(data.onset_at)
        cp = cp_at(session, row, onset)
        ae = SessionAdverseEvent(
            session_id=row.id,
            kind=data.kind.value,
            severity=data.severity.value,
            onset_at=onset,
            cp_at_onset_ng_ml=cp if math.isfinite(cp) else 0.0,
            cp_weight_kg=pk_weight_kg(row),
            cp_model_key=row.model_key,
            action=data.action,
            outcome=data.outcome,
            note=data.note,
            charted_by=actor.username,
            charted_at=utcnow(),
        )
        session.add(ae)
        session.flush()
        audit(
            session,
            actor,
            "adverse_event",
            "infusion_session",
            row.id,
            new_values(
                adverse_event_id=ae.id,
                kind=ae.kind,
                severity=ae.severity,
                cp_at_onset_ng_ml=ae.cp_at_onset_ng_ml,
                cp_weight_kg=ae.cp_weight_kg,
                cp_model_key=ae.cp_model_key,
            ),
        )
        return adverse_event_out(row, ae)


Purpose = Literal["premedication", "rescue", "ketamine_bolus"]


class MedicationIn(BaseModel):
    """A dose given: premedication or rescue (RESCUE_MEDICATIONS keys) or a ketamine bolus (mg)."""

    model_config = ConfigDict(extra="forbid")
    purpose: Purpose
    medication: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), SingleLine
    ]
    dose: float = Field(gt=0, le=100000)
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12), SingleLine] | None = None
    route: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), SingleLine
    ] = "IV"
    given_at: IsoDateTime | None = None
    adverse_event_id: RecordRef | None = None
    reason: Text = ""
    note: Text = ""

    @field_validator("medication")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class MedicationOut(BaseModel):
    """A dated dose as charted."""

    id: int
    purpose: str
    medication: str
    label: str
    dose: float
    unit: str
    route: str
    given_at: datetime
    adverse_event_id: int | None
    check: dict[str, Any]
    reason: str
    note: str
    charted_by: str


def medication_out(med: SessionMedication) -> MedicationOut:
    """Output model of a dose."""
    label = "Ketamine" if med.medication == "ketamine" else rescue_medication(med.medication).label
    return MedicationOut(
        id=med.id,
        purpose=med.purpose,
        medication=med.medication,
        label=label,
        dose=med.dose,
        unit=med.unit,
        route=med.route,
        given_at=med.given_at,
        adverse_event_id=med.adverse_event_id,
        check=json.loads(med.check_json),
        reason=med.reason,
        note=med.note,
        charted_by=med.charted_by,
    )


def record_medication(
    session: Session, actor: Actor, row: InfusionSession, data: MedicationIn, *, config: Config
) -> SessionMedication:
    """Validate and store one dose (a ketamine bolus passes the library's bolus check)."""
    check: dict[str, Any] = {}
    reason = ""
    if data.purpose == "ketamine_bolus":
        if data.medication != "ketamine":
            raise InputError("a ketamine bolus is charted as medication 'ketamine'", field="medication")
        if data.unit not in (None, "mg"):
            raise InputError("a ketamine bolus is charted in mg", field="unit")
        require_state(row, INFUSING, "give a ketamine bolus")
        given_at = when(data.given_at)
        if row.started_at is None or given_at < row.started_at:
            raise InputError(
                "a ketamine bolus is charted during the infusion, not before it", field="given_at"
            )
        bolus_check = check_bolus(
            clinic_library(config).library, row.context_id, dose_mg=data.dose, weight_kg=row.dosing_weight_kg
        )
        segments = segment_rows(session, row.id)
        # Whatever time the bolus is dated to, the total counts every bolus and the rate running now.
        total_check = session_total_check(
            session,
            row,
            plan_of(session, row),
            until=max(utcnow(), given_at),
            rate_mg_h=segments[-1].rate_mg_h if segments else 0.0,
            bolus_mg=data.dose,
            config=config,
        )
        result, stored = combined_checks(bolus_check, total_check)
        if result.verdict == "hard":
            raise HardLimitError(result, field="dose")
        if result.verdict == "soft":
            if not data.reason:
                raise InputError(soft_prompt(stored), field="reason")
            reason = data.reason
        check, unit = stored, "mg"
    else:
        med = rescue_medication(data.medication)
        unit = med.unit if data.unit is None else data.unit
        if med.unit and unit != med.unit:
            raise InputError(f"{med.label} is charted in {med.unit}", field="unit")
        if med.key == "other" and not data.note:
            raise InputError("name the medication in the note", field="note")
    if data.adverse_event_id is not None:
        ae = session.get(SessionAdverseEvent, data.adverse_event_id)
        if ae is None or ae.session_id != row.id:
            raise NotFoundError(
                f"no adverse event {data.adverse_event_id} in this session", field="adverse_event_id"
            )
    med_row = SessionMedication(
        session_id=row.id,
        purpose=data.purpose,
        medication=data.medication,
        dose=data.dose,
        unit=unit,
        route=data.route,
        given_at=when(data.given_at),
        adverse_event_id=data.adverse_event_id,
        check_json=dumps(check),
        reason=reason,
        note=data.note,
        charted_by=actor.username,
        charted_at=utcnow(),
    )
    session.add(med_row)
    session.flush()
    return med_row


def chart_medication(
    db: Database, actor: Actor, session_id: int, data: MedicationIn, *, config: Config
) -> MedicationOut:
    """Chart a dose given (premedication, rescue, or a checked ketamine bolus)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        require_state(row, CHARTABLE, "chart a medication")
        med = record_medication(session, actor, row, data, config=config)
        audit(
            session,
            actor,
            "medication",
            "infusion_session",
            row.id,
            new_values(
                medication_id=med.id,
                purpose=med.purpose,
                medication=med.medication,
                dose=f"{med.dose:g} {med.unit}",
            )
            | limit_changes(json.loads(med.check_json)),
            med.reason,
        )
        return medication_out(med)
