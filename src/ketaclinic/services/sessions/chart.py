"""The whole chart of one session as one document (API JSON and the charting screen), and the alert poll.

Reading the chart (or polling its alerts) also raises any 'overdue' alert that has come due, so a missed
reading is flagged as soon as anyone looks, without a background worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.monitoring import (
    allowed_transitions,
    charted_prediction,
    field_groups,
    missing_for_signature,
    next_due_min,
)
from ketaclinic.monitoring.discharge import discharge_criteria
from ketaclinic.pharmacology import Infusion, get_band
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import load_patient, patient_label
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.pk import BAND_KEYS  # the same bands as the PK explorer and plan charts
from ketaclinic.services.sessions.alert_raising import catch_up_due, raise_due
from ketaclinic.services.sessions.alert_records import AlertOut, session_alerts
from ketaclinic.services.sessions.charting import (
    INFUSING,
    Config,
    bolus_doses,
    charted_times,
    given_mg,
    infusions,
    minutes_between,
    observation_rows,
    pk_weight_kg,
    plan_of,
    segment_rows,
    session_row,
)
from ketaclinic.services.sessions.ending import (
    RecoveryOut,
    discharge_verdict,
    is_early_end,
    planned_end_min,
    recovery_out,
)
from ketaclinic.services.sessions.events import (
    AdverseEventOut,
    MedicationOut,
    adverse_event_out,
    medication_out,
)
from ketaclinic.services.sessions.flowsheet import ObservationOut, observation_out
from ketaclinic.services.sessions.infusion_rates import SegmentOut, segment_out
from ketaclinic.services.sessions.signing import signature_facts
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    SessionAddendum,
    SessionAdverseEvent,
    SessionMedication,
)

# Minutes of washout drawn after the infusion ends (display only).
RECOVERY_DISPLAY_MIN = 60.0


class Band(BaseModel):
    """A concentration band drawn on the chart, with its source."""

    key: str
    label: str
    low_ng_ml: float
    high_ng_ml: float
    source: str
    status: str


class Prediction(BaseModel):
    """Predicted Cp/Ce from the charted segments, and the projection to the planned end."""

    model_key: str
    weight_kg: float
    t_min: list[float]
    cp_ng_ml: list[float]
    ce_ng_ml: list[float] | None
    projected_t_min: list[float]
    projected_cp_ng_ml: list[float]
    peak_cp_ng_ml: float
    now_cp_ng_ml: float
    bands: list[Band]
    warnings: list[str]


class DueOut(BaseModel):
    """When the next reading of a field group is due."""

    group: str
    t_due_min: float
    due_at: datetime


class SessionChart(BaseModel):
    """Everything charted in one session."""

    id: int
    plan_id: int
    session_number: int
    patient_id: int
    patient_label: str
    state: str
    allowed_actions: list[str]
    scheduled_on: str
    drug: str
    model_key: str
    context_id: str
    concentration_mg_ml: float
    dosing_weight_kg: float
    measured_weight_kg: float | None
    cadence: str
    checked_in_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    end_state: str | None
    stop_reason: str | None
    early_end_reason: str | None
    start_reason: str | None
    completing_now_is_early: bool
    discharged_at: datetime | None
    signed_at: datetime | None
    signed_by: str | None
    now_t_min: float | None
    check_in: dict[str, Any]
    planned_segments: list[dict[str, float]]
    planned_end_min: float | None
    given_mg: float
    planned_total_mg: float
    segments: list[SegmentOut]
    observations: list[ObservationOut]
    alerts: list[AlertOut]
    adverse_events: list[AdverseEventOut]
    medications: list[MedicationOut]
    addenda: list[dict[str, Any]]
    prediction: Prediction | None
    next_due: list[DueOut]
    discharge: dict[str, Any]
    recovery: RecoveryOut | None
    discharge_questions: list[dict[str, str]]
    missing_for_signature: list[str]


def _bands() -> list[Band]:
    out = []
    for key in BAND_KEYS:
        band = get_band(key)
        out.append(
            Band(
                key=band.key,
                label=band.label,
                low_ng_ml=band.low_ng_ml,
                high_ng_ml=band.high_ng_ml,
                source=band.source,
                status=band.status.value,
            )
        )
    return out


def _until(row: InfusionSession, now: datetime) -> datetime:
    if row.ended_at is not None:
        return min(now, row.ended_at + timedelta(minutes=RECOVERY_DISPLAY_MIN))
    return now


def _prediction(session: Session, row: InfusionSession, now: datetime) -> Prediction | None:
    if row.started_at is None:
        return None
    planned = plan_of(session, row)
    until_at = _until(row, now)
    until = max(minutes_between(row.started_at, until_at), 0.0)
    charted = infusions(row, segment_rows(session, row.id), until_at)
    future = [Infusion(s.start_min, s.end_min, s.rate_mg_h) for s in planned.segments]
    result = charted_prediction(
        row.model_key,
        pk_weight_kg(row),
        charted,
        until,
        step_min=max(1.0, until / 240.0),
        planned_segments=future if row.state in INFUSING else None,
        boluses=bolus_doses(session, row),
    )
    return Prediction(
        model_key=result.model_key,
        weight_kg=result.weight_kg,
        t_min=result.t_min,
        cp_ng_ml=result.cp_ng_ml,
        ce_ng_ml=result.ce_ng_ml,
        projected_t_min=result.projected_t_min,
        projected_cp_ng_ml=result.projected_cp_ng_ml,
        peak_cp_ng_ml=result.peak_cp_ng_ml,
        now_cp_ng_ml=result.cp_ng_ml[-1] if result.cp_ng_ml else 0.0,
        bands=_bands(),
        warnings=result.warnings,
    )


def current_cp_ng_ml(session: Session, row: InfusionSession, now: datetime) -> float | None:
    """The predicted plasma concentration now, as the chart computes it (None before the start)."""
    prediction = _prediction(session, row, now)
    return prediction.now_cp_ng_ml if prediction is not None else None


def next_due(row: InfusionSession, times: dict[str, list[float]], now: datetime) -> list[DueOut]:
    """When each field group's next reading is due (nothing unless the infusion runs)."""
    if row.started_at is None or row.state not in INFUSING:
        return []
    now_min = minutes_between(row.started_at, now)
    out = []
    for group in field_groups():
        charted = [t for t in times.get(group, []) if t >= 0]
        due = next_due_min(row.cadence, 0.0, max(charted) if charted else None, now_min, group)
        out.append(DueOut(group=group, t_due_min=due, due_at=row.started_at + timedelta(minutes=due)))
    return out


def build_chart(
    session: Session,
    actor: Actor,
    row: InfusionSession,
    config: Config,
    typed_answers: Mapping[str, bool] | None = None,
) -> SessionChart:
    """The chart document (raises due 'overdue' alerts first, in the caller's transaction); before
    discharge, `typed_answers` (a refused discharge's ticks) are judged in place of the stored ones."""
    now = utcnow()
    obs_rows = observation_rows(session, row.id)
    times = charted_times(session, row)
    raise_due(session, row, times, now, config)
    planned = plan_of(session, row)
    patient = load_patient(session, row.patient_id)
    answers = dict(json.loads(row.discharge_json).get("answers", {}))
    if typed_answers is not None and row.discharged_at is None:
        answers = dict(typed_answers)
    aes = session.execute(
        select(SessionAdverseEvent)
        .where(SessionAdverseEvent.session_id == row.id)
        .order_by(SessionAdverseEvent.onset_at)
    ).scalars()
    meds = session.execute(
        select(SessionMedication)
        .where(SessionMedication.session_id == row.id)
        .order_by(SessionMedication.given_at)
    ).scalars()
    addenda = session.execute(
        select(SessionAddendum).where(SessionAddendum.session_id == row.id).order_by(SessionAddendum.id)
    ).scalars()
    return SessionChart(
        id=row.id,
        plan_id=row.plan_id,
        session_number=row.session_number,
        patient_id=row.patient_id,
        patient_label=patient_label(patient, actor),
        state=row.state,
        allowed_actions=[a.value for a in allowed_transitions[row.state]],  # type: ignore[index]
        scheduled_on=row.scheduled_on.isoformat(),
        drug=row.drug,
        model_key=row.model_key,
        context_id=row.context_id,
        concentration_mg_ml=row.concentration_mg_ml,
        dosing_weight_kg=row.dosing_weight_kg,
        measured_weight_kg=row.measured_weight_kg,
        cadence=row.cadence,
        checked_in_at=row.checked_in_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        end_state=row.end_state,
        stop_reason=row.stop_reason,
        early_end_reason=row.early_end_reason,
        start_reason=row.start_reason,
        completing_now_is_early=row.state in INFUSING and is_early_end(session, row, now, config),
        discharged_at=row.discharged_at,
        signed_at=row.signed_at,
        signed_by=row.signed_by,
        now_t_min=None if row.started_at is None else minutes_between(row.started_at, now),
        check_in=json.loads(row.checkin_json),
        planned_segments=[
            {
                "start_min": s.start_min,
                "end_min": s.end_min,
                "rate_mg_h": s.rate_mg_h,
                "rate_mg_kg_h": s.rate_mg_kg_h,
                "pump_ml_h": s.pump_ml_h,
            }
            for s in planned.segments
        ],
        planned_end_min=planned_end_min(session, row),
        given_mg=given_mg(session, row, min(now, row.ended_at or now)),
        planned_total_mg=planned.total_mg,
        segments=[segment_out(row, s) for s in segment_rows(session, row.id)],
        observations=[observation_out(row, o) for o in obs_rows],
        alerts=session_alerts(session, row.id),
        adverse_events=[adverse_event_out(row, a) for a in aes],
        medications=[medication_out(m) for m in meds],
        addenda=[
            {"id": a.id, "text": a.text, "author": a.author, "created_at": a.created_at} for a in addenda
        ],
        prediction=_prediction(session, row, now),
        next_due=next_due(row, times, now),
        discharge=_discharge(session, row, now, answers, config),
        recovery=recovery_out(session, row, config),
        discharge_questions=[{"key": k, "label": label} for k, label in discharge_criteria().questions],
        missing_for_signature=missing_for_signature(signature_facts(session, row)),
    )


def _discharge(
    session: Session, row: InfusionSession, now: datetime, answers: dict[str, Any], config: Config
) -> dict[str, Any]:
    """The checklist as judged at discharge once discharged (a locked record never re-judges), else now."""
    if row.discharged_at is not None:
        stored = json.loads(row.discharge_json)
        return {key: value for key, value in stored.items() if key != "answers"}
    return dict(discharge_verdict(session, row, now, answers, config).model_dump(mode="json"))


def view_session(
    db: Database,
    actor: Actor,
    session_id: int,
    *,
    config: Config,
    typed_answers: Mapping[str, bool] | None = None,
) -> SessionChart:
    """The full chart of a session (the view is audited); `typed_answers`: see build_chart."""
    require(actor, Permission.SESSIONS_VIEW)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        chart = build_chart(session, actor, row, config, typed_answers)
        audit(session, actor, "view", "infusion_session", row.id)
        return chart


def refresh_chart(db: Database, actor: Actor, session_id: int, *, config: Config) -> SessionChart:
    """The chart again for a screen already open (its opening was the audited view): a live refresh."""
    require(actor, Permission.SESSIONS_VIEW)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        return build_chart(session, actor, row, config, None)


def poll_alerts(db: Database, actor: Actor, session_id: int, *, config: Config) -> list[AlertOut]:
    """The session's alerts, raising any that came due with time (polled every few seconds)."""
    require(actor, Permission.SESSIONS_VIEW)
    catch_up_due(db, session_id, config=config)
    with db.read() as session:
        return session_alerts(session, session_row(session, session_id).id)
