"""Rate segments of an infusion: a rate converted with pump arithmetic, checked against the drug library
and compared with the approved plan before it is charted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from ketaclinic.dosing import (
    HardLimitError,
    LimitCheck,
    Segment,
    check_rate,
    pump_ml_h,
    rate_mg_h_from_per_kg,
    rate_mg_h_from_pump,
    rate_mg_kg_h,
)
from ketaclinic.errors import InputError
from ketaclinic.inputs import IsoDateTime
from ketaclinic.monitoring import SessionState
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.contract import PlannedSession
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import (
    INFUSING,
    PUMP_DISPLAY_STEP_ML_H,
    Config,
    Text,
    combined_checks,
    dumps,
    limit_changes,
    minutes_between,
    plan_of,
    require_state,
    segment_rows,
    session_row,
    session_total_check,
    soft_prompt,
    t_min_of,
    when,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, RateSegment


class RateIn(BaseModel):
    """A rate as the nurse enters it: pump mL/h or mg/kg/h (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    pump_ml_h: float | None = Field(default=None, ge=0, le=1000)
    rate_mg_kg_h: float | None = Field(default=None, ge=0, le=100)
    limit_reason: Text = ""
    deviation_reason: Text = ""
    at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> RateIn:
        if (self.pump_ml_h is None) == (self.rate_mg_kg_h is None):
            raise ValueError("give either pump_ml_h or rate_mg_kg_h")
        return self


class RatePreview(BaseModel):
    """A rate converted, checked against the library and compared with the plan (nothing stored)."""

    pump_ml_h: float
    rate_mg_h: float
    rate_mg_kg_h: float
    concentration_mg_ml: float
    weight_kg: float
    entered_as: str
    t_min: float
    check: dict[str, Any]
    session_total: dict[str, Any] | None
    planned_rate_mg_h: float | None
    planned_range_mg_h: list[float] | None
    deviation: bool
    needs_limit_reason: bool
    needs_deviation_reason: bool


class SegmentOut(BaseModel):
    """A charted segment."""

    id: int
    kind: str
    started_at: datetime
    t_min: float | None
    pump_ml_h: float
    concentration_mg_ml: float
    rate_mg_h: float
    rate_mg_kg_h: float
    weight_kg: float
    entered_as: str
    verdict: str
    check: dict[str, Any]
    limit_reason: str
    planned_rate_mg_h: float | None
    deviation: bool
    deviation_reason: str
    charted_by: str


def segment_out(row: InfusionSession, seg: RateSegment) -> SegmentOut:
    """Output model of a segment."""
    return SegmentOut(
        id=seg.id,
        kind=seg.kind,
        started_at=seg.started_at,
        t_min=None if row.started_at is None else minutes_between(row.started_at, seg.started_at),
        pump_ml_h=seg.pump_ml_h,
        concentration_mg_ml=seg.concentration_mg_ml,
        rate_mg_h=seg.rate_mg_h,
        rate_mg_kg_h=seg.rate_mg_kg_h,
        weight_kg=seg.weight_kg,
        entered_as=seg.entered_as,
        verdict=seg.verdict,
        check=json.loads(seg.check_json),
        limit_reason=seg.limit_reason,
        planned_rate_mg_h=seg.planned_rate_mg_h,
        deviation=seg.deviation,
        deviation_reason=seg.deviation_reason,
        charted_by=seg.charted_by,
    )


def _rate_at(segments: tuple[Segment, ...], t_min: float) -> float:
    for seg in segments:
        if seg.start_min <= t_min < seg.end_min:
            return seg.rate_mg_h
    return 0.0


def planned_range_mg_h(planned: PlannedSession, t_min: float) -> tuple[float, float]:
    """The plan's rate at `t_min` (min and max path when titrated; 0 outside the plan's segments)."""
    high = _rate_at(planned.segments, t_min)
    low = _rate_at(planned.min_path_segments, t_min) if planned.titrated else high
    return (min(low, high), max(low, high))


def preview_rate(
    session: Session, row: InfusionSession, rate: RateIn, *, kind: str, config: Config
) -> tuple[RatePreview, LimitCheck]:
    """Convert the entered rate with pump arithmetic, check it against the library and the plan."""
    planned = plan_of(session, row)
    weight = row.dosing_weight_kg
    conc = row.concentration_mg_ml
    if rate.pump_ml_h is not None:
        entered_as, pump = "ml_h", rate.pump_ml_h
        mg_h = rate_mg_h_from_pump(pump, conc)
    else:
        assert rate.rate_mg_kg_h is not None  # one of the two, by validation
        entered_as, mg_h = "mg_kg_h", rate_mg_h_from_per_kg(rate.rate_mg_kg_h, weight)
        pump = pump_ml_h(mg_h, conc)
    per_kg = rate_mg_kg_h(mg_h, weight)
    at = when(rate.at)
    t = 0.0 if kind == "start" else t_min_of(row, at)
    rate_check = check_rate(clinic_library(config).library, row.context_id, rate_mg_h=mg_h, weight_kg=weight)
    segments = segment_rows(session, row.id)
    running_mg_h = segments[-1].rate_mg_h if segments else 0.0
    # Only a rise can add to the total: stopping, pausing or lowering the rate is never held back by it.
    total_check = (
        session_total_check(session, row, planned, until=at, rate_mg_h=mg_h, config=config)
        if mg_h > running_mg_h
        else None
    )
    check, stored = combined_checks(rate_check, *([total_check] if total_check else []))
    low, high = planned_range_mg_h(planned, t)
    tolerance = PUMP_DISPLAY_STEP_ML_H / 2 * conc
    deviation = kind in ("start", "change", "resume") and not (low - tolerance <= mg_h <= high + tolerance)
    preview = RatePreview(
        pump_ml_h=pump,
        rate_mg_h=mg_h,
        rate_mg_kg_h=per_kg,
        concentration_mg_ml=conc,
        weight_kg=weight,
        entered_as=entered_as,
        t_min=t,
        check=stored,
        session_total=None if total_check is None else total_check.to_json_dict(),
        planned_rate_mg_h=high,
        planned_range_mg_h=[low, high] if planned.titrated else None,
        deviation=deviation,
        needs_limit_reason=check.verdict == "soft" and not rate.limit_reason,
        needs_deviation_reason=deviation and not rate.deviation_reason,
    )
    return preview, check


def record_segment(
    session: Session, actor: Actor, row: InfusionSession, rate: RateIn, *, kind: str, config: Config
) -> RateSegment:
    """Store a segment after the checks: hard refused, soft and plan deviations need their reasons."""
    preview, check = preview_rate(session, row, rate, kind=kind, config=config)
    if check.verdict == "hard":
        raise HardLimitError(check, field="pump_ml_h" if preview.entered_as == "ml_h" else "rate_mg_kg_h")
    if preview.needs_limit_reason:
        raise InputError(soft_prompt(preview.check), field="limit_reason")
    if preview.needs_deviation_reason:
        raise InputError(
            f"{preview.rate_mg_h:.4g} mg/h differs from the approved plan's"
            f" {preview.planned_rate_mg_h:.4g} mg/h"
            " at this time; give a reason",
            field="deviation_reason",
        )
    at = row.started_at if kind == "start" and row.started_at is not None else when(rate.at)
    previous = segment_rows(session, row.id)
    if previous and at < previous[-1].started_at:
        raise InputError("is before the last charted rate change", field="at")
    seg = RateSegment(
        session_id=row.id,
        kind=kind,
        started_at=at,
        pump_ml_h=preview.pump_ml_h,
        concentration_mg_ml=preview.concentration_mg_ml,
        rate_mg_h=preview.rate_mg_h,
        rate_mg_kg_h=preview.rate_mg_kg_h,
        weight_kg=preview.weight_kg,
        entered_as=preview.entered_as,
        verdict=check.verdict,
        check_json=dumps(preview.check),
        limit_reason=rate.limit_reason if check.verdict == "soft" else "",
        planned_rate_mg_h=preview.planned_rate_mg_h,
        deviation=preview.deviation,
        deviation_reason=rate.deviation_reason if preview.deviation else "",
        charted_by=actor.username,
        charted_at=utcnow(),
    )
    session.add(seg)
    session.flush()
    publish(session, LiveEvent("rate", kind, session_id=row.id))
    return seg


def segment_changes(seg: RateSegment) -> dict[str, Any]:
    """The audited fields of a new segment."""
    fields = ("kind", "pump_ml_h", "rate_mg_h", "rate_mg_kg_h", "weight_kg", "verdict", "deviation")
    return (
        {"segment_id": {"old": None, "new": seg.id}}
        | {f: {"old": None, "new": getattr(seg, f)} for f in fields}
        | limit_changes(json.loads(seg.check_json))
    )


def segment_reason(seg: RateSegment) -> str:
    """The reasons given with a segment, for the audit event."""
    parts = [
        f"limit: {seg.limit_reason}" if seg.limit_reason else "",
        seg.deviation_reason and f"plan deviation: {seg.deviation_reason}",
    ]
    return "; ".join(p for p in parts if p)


def check_rate_change(
    db: Database, actor: Actor, session_id: int, rate: RateIn, *, config: Config
) -> RatePreview:
    """What the library and the plan say about a rate, before the nurse confirms it (nothing stored)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id)
        require_state(row, INFUSING | {SessionState.CHECKED_IN.value}, "check a rate")
        kind = "start" if row.state == SessionState.CHECKED_IN.value else "change"
        preview, _check = preview_rate(session, row, rate, kind=kind, config=config)
        return preview


def change_rate(db: Database, actor: Actor, session_id: int, rate: RateIn, *, config: Config) -> SegmentOut:
    """Chart a rate change on a running infusion."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        require_state(row, frozenset({SessionState.RUNNING.value}), "change the rate")
        seg = record_segment(session, actor, row, rate, kind="change", config=config)
        audit(
            session,
            actor,
            "rate_change",
            "infusion_session",
            row.id,
            segment_changes(seg),
            segment_reason(seg),
        )
        return segment_out(row, seg)
