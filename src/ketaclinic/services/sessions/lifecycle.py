"""Infusion sessions: check in, start/pause/resume/complete/stop. Each step is a monitoring.transition;
an illegal step is a ConflictError.

Booking and the day's list in sessions/booking.py; discharge, signature and addenda in sessions/signing.py.
Charting: rates in sessions/charting.py, readings in sessions/flowsheet.py, adverse events and doses in
sessions/events.py, alerts in sessions/alerts.py; the chart as one document in sessions/chart.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.orm import Session

from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import CleanText, IsoDateTime, SingleLine
from ketaclinic.monitoring import (
    PregnancyCheck,
    SessionAction,
    transition,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.ledger.waste import book_administration
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.contract import approved_plan_ids
from ketaclinic.services.scheduling.links import follow_session
from ketaclinic.services.sessions.charting import (
    Config,
    Text,
    dumps,
    segment_rows,
    session_row,
    soft_breaches,
    when,
)
from ketaclinic.services.sessions.checkin_weight import check_in_weight_flag, raise_weight_alert
from ketaclinic.services.sessions.ending import check_end, check_start
from ketaclinic.services.sessions.events import MedicationIn, record_medication
from ketaclinic.services.sessions.flowsheet import record_observation
from ketaclinic.services.sessions.infusion_rates import (
    RateIn,
    preview_rate,
    record_segment,
    segment_changes,
    segment_reason,
)
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.sessions import InfusionSession

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), CleanText]


class PremedIn(BaseModel):
    """A premedication dose given before the infusion."""

    model_config = ConfigDict(extra="forbid")
    medication: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), SingleLine
    ]
    dose: float = Field(gt=0, le=100000)
    unit: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12), SingleLine] | None = None
    route: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), SingleLine
    ] = "PO"
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), CleanText] = ""


class CheckInIn(BaseModel):
    """Pre-infusion facts: weight (with a reason when it differs from the plan's), baseline vitals, pain NRS,
    premedication, pregnancy check."""

    model_config = ConfigDict(extra="forbid")
    weight_kg: float = Field(ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    weight_discrepancy_reason: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=500), CleanText
    ] = ""
    sbp: float
    dbp: float
    hr: float
    spo2: float
    rr: float | None = None
    temp_c: float | None = None
    nrs: int
    premedication: list[PremedIn] = Field(default_factory=list, max_length=10)
    premedication_none: bool = False
    pregnancy_check: PregnancyCheck | None = None
    at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _premedication_stated(self) -> CheckInIn:
        if self.premedication and self.premedication_none:
            raise ValueError("premedication given and 'none' both stated")
        return self


class EndIn(BaseModel):
    """Completing or stopping the infusion (a stop needs a reason; an early completion, its own)."""

    model_config = ConfigDict(extra="forbid")
    reason: Text = ""
    early_end_reason: Text = ""
    at: IsoDateTime | None = None


class StartIn(RateIn):
    """The first rate, and why the session starts before its date or sooner than the protocol's interval."""

    start_reason: Text = ""


class ResumeIn(BaseModel):
    """Resuming: at the rate before the pause unless a new rate is given.

    Without a rate, a reason given here replaces the earlier one (e.g. the library was tightened during
    the pause and the same rate is now a soft breach); with a rate, the reasons belong inside it.
    """

    model_config = ConfigDict(extra="forbid")
    rate: RateIn | None = None
    limit_reason: Text = ""
    deviation_reason: Text = ""

    @model_validator(mode="after")
    def _reasons_with_their_rate(self) -> ResumeIn:
        if self.rate is not None and (self.limit_reason or self.deviation_reason):
            raise ValueError("with a new rate, give its reasons inside rate")
        return self


def take_step(
    session: Session, actor: Actor, row: InfusionSession, action: SessionAction, reason: str = ""
) -> str:
    """Apply a lifecycle step to the row (ConflictError when not allowed); the old state."""
    old = row.state
    row.state = transition(old, action, reason=reason or None).value
    publish(session, LiveEvent("session", row.state, session_id=row.id))
    follow_session(session, actor, row)  # its booked appointment, if any, moves on with it
    return old


def pregnancy_check_applies(patient: Patient) -> bool:
    """A pregnancy check is recorded for every patient not recorded as male."""
    return patient.sex != "male"


def check_in(db: Database, actor: Actor, session_id: int, data: CheckInIn, *, config: Config) -> str:
    """Record the pre-infusion facts and baseline reading; scheduled -> checked_in."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        patient = load_patient(session, row.patient_id)
        if not data.premedication and not data.premedication_none:
            raise InputError("record the premedication given, or 'none'", field="premedication")
        if pregnancy_check_applies(patient) and data.pregnancy_check is None:
            raise InputError("record the pregnancy check", field="pregnancy_check")
        old = take_step(session, actor, row, SessionAction.CHECK_IN)
        weight_flag = check_in_weight_flag(
            session, row, data.weight_kg, data.weight_discrepancy_reason, config=config
        )
        at = when(data.at)
        row.checked_in_at = at
        row.measured_weight_kg = data.weight_kg
        baseline = {k: getattr(data, k) for k in ("sbp", "dbp", "hr", "spo2", "rr", "temp_c", "nrs")}
        stored, raised = record_observation(
            session, actor, row, {**baseline, "at": at}, phase="pre", config=config
        )
        for index, premed in enumerate(data.premedication):
            try:
                record_medication(
                    session,
                    actor,
                    row,
                    MedicationIn(purpose="premedication", given_at=at, **premed.model_dump()),
                    config=config,
                )
            except InputError as exc:
                raise InputError(exc.message, field=f"premedication.{index}.{exc.field}") from None
        facts: dict[str, Any] = {
            "weight_kg": data.weight_kg,
            "premedication": [p.model_dump() for p in data.premedication] or "none",
            "pregnancy_check_applies": pregnancy_check_applies(patient),
            "pregnancy_check": data.pregnancy_check,
            "baseline_observation_id": stored.id,
        }
        if weight_flag is not None:
            facts["weight_discrepancy"] = weight_flag
            raised = [*raised, *raise_weight_alert(session, actor, row, weight_flag)]
        row.checkin_json = dumps(facts)
        changes = {
            "state": {"old": old, "new": row.state},
            "check_in": {"old": None, "new": facts | baseline},
        }
        if raised:
            changes["alerts"] = {"old": None, "new": raised}
        audit(session, actor, "check_in", "infusion_session", row.id, changes)
        return row.state


def start(
    db: Database,
    actor: Actor,
    session_id: int,
    rate: RateIn,
    *,
    start_reason: str = "",
    config: Config,
) -> str:
    """Start the infusion at its first rate (checked); only a session of an approved plan starts, in turn.

    One session of a plan infuses at a time; before the planned date or sooner than the protocol's
    interval after the previous session needs `start_reason`.
    """
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.plan_id not in approved_plan_ids(session, row.patient_id):
            raise ConflictError(f"dose plan {row.plan_id} is no longer approved", field="plan_id")
        old = take_step(session, actor, row, SessionAction.START)
        row.started_at = when(rate.at)
        check_start(session, row, row.started_at, start_reason.strip(), config)
        row.start_reason = start_reason.strip() or None
        seg = record_segment(session, actor, row, rate, kind="start", config=config)
        changes = {"state": {"old": old, "new": row.state}} | segment_changes(seg)
        if row.start_reason:
            changes["start_reason"] = {"old": None, "new": row.start_reason}
        reasons = "; ".join(r for r in (segment_reason(seg), row.start_reason) if r)
        audit(session, actor, "start", "infusion_session", row.id, changes, reasons)
        return row.state


def pause(db: Database, actor: Actor, session_id: int, at: datetime | None = None, *, config: Config) -> str:
    """Pause the pump (a zero-rate segment)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        old = take_step(session, actor, row, SessionAction.PAUSE)
        seg = record_segment(session, actor, row, RateIn(pump_ml_h=0.0, at=at), kind="pause", config=config)
        audit(
            session,
            actor,
            "pause",
            "infusion_session",
            row.id,
            {"state": {"old": old, "new": row.state}} | segment_changes(seg),
        )
        return row.state


def resume(db: Database, actor: Actor, session_id: int, data: ResumeIn, *, config: Config) -> str:
    """Resume at the rate before the pause (re-checked) or at a new rate."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        old = take_step(session, actor, row, SessionAction.RESUME)
        rate = data.rate
        if rate is None:
            running = [s for s in segment_rows(session, row.id) if s.rate_mg_h > 0]
            if not running:
                raise InputError("no earlier rate to resume at: give a rate", field="rate")
            last = running[-1]
            # The same rate as before the pause: its reasons stand unless replaced, and its limit reason
            # only while it covers every soft breach (the total may have become one during the pause).
            same = RateIn(pump_ml_h=last.pump_ml_h)
            now_soft = _soft_keys(preview_rate(session, row, same, kind="resume", config=config)[0].check)
            covered = now_soft <= _soft_keys(json.loads(last.check_json))
            rate = RateIn(
                pump_ml_h=last.pump_ml_h,
                limit_reason=data.limit_reason or (last.limit_reason if covered else ""),
                deviation_reason=data.deviation_reason or last.deviation_reason,
            )
        if rate.pump_ml_h == 0 or rate.rate_mg_kg_h == 0:
            raise InputError("resume at a rate above zero (the infusion stays paused)", field="rate")
        seg = record_segment(session, actor, row, rate, kind="resume", config=config)
        audit(
            session,
            actor,
            "resume",
            "infusion_session",
            row.id,
            {"state": {"old": old, "new": row.state}} | segment_changes(seg),
            segment_reason(seg),
        )
        return row.state


def _soft_keys(stored: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["quantity"], c["limit_kind"]) for c in soft_breaches(stored)}


def end_infusion(
    db: Database, actor: Actor, session_id: int, data: EndIn, *, stopped: bool, config: Config
) -> str:
    """Complete or stop the infusion (a zero-rate segment), then recovery begins."""
    require(actor, Permission.SESSIONS_CHART)
    action = SessionAction.STOP if stopped else SessionAction.COMPLETE
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        old = take_step(session, actor, row, action, data.reason)
        row.end_state = row.state
        row.stop_reason = data.reason if stopped else None
        at = when(data.at)
        if not stopped and check_end(session, row, at, data.early_end_reason, config):
            row.early_end_reason = data.early_end_reason
        seg = record_segment(session, actor, row, RateIn(pump_ml_h=0.0, at=at), kind="stop", config=config)
        row.ended_at = seg.started_at
        take_step(session, actor, row, SessionAction.BEGIN_RECOVERY)
        book_administration(session, actor, row)  # the bag's dose, from the chart, never typed
        changes = {
            "state": {"old": old, "new": row.state},
            "end_state": {"old": None, "new": row.end_state},
        } | segment_changes(seg)
        if row.early_end_reason:
            changes["early_end_reason"] = {"old": None, "new": row.early_end_reason}
        audit(
            session,
            actor,
            action.value,
            "infusion_session",
            row.id,
            changes,
            data.reason or row.early_end_reason or "",
        )
        return row.state
