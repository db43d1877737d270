"""Charting an infusion session: the shared record helpers (the row, its times, the ketamine given, the
readings on record). Rate segments are in infusion_rates.py; readings in flowsheet.py; adverse events and
doses in events.py.

Times: every record keeps its clock time (UTC); minutes from the infusion start (`t_min`) are derived
from the session's `started_at`, the time base of the PK engine and the cadence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ketaclinic.dosing import (
    DEFAULT_MODELS,
    LimitCheck,
    check_charted_session_total,
    mg_delivered,
    worst_check,
    worst_verdict,
)
from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import CleanText
from ketaclinic.monitoring import Observation, SessionState, field_groups, get_cadence, groups_charted
from ketaclinic.pharmacology import Bolus, Infusion, Regimen
from ketaclinic.services.plans.contract import PlannedSession, planned_session
from ketaclinic.services.reference import clinic_library
from ketaclinic.settings import Settings
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import is_future, utcnow
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionMedication,
    SessionObservation,
)

Config = Settings | Path | None
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), CleanText]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), CleanText]
# A pump shows 0.1 mL/h; a charted rate within half a step of the plan is the plan's rate.
PUMP_DISPLAY_STEP_ML_H = 0.1
CHARTABLE = frozenset(
    s.value
    for s in (
        SessionState.CHECKED_IN,
        SessionState.RUNNING,
        SessionState.PAUSED,
        SessionState.COMPLETED,
        SessionState.STOPPED,
        SessionState.RECOVERY,
    )
)
INFUSING = frozenset({SessionState.RUNNING.value, SessionState.PAUSED.value})


# ---------------------------------------------------------------- shared helpers


dumps = canonical_json  # the JSON columns use the audit trail's one JSON spelling


def when(at: datetime | None) -> datetime:
    """The time of a charted event: now when not given; never naive, never in the future."""
    now = utcnow()
    if at is None:
        return now
    if at.tzinfo is None:
        raise InputError("needs a time zone (e.g. 2024-05-01T10:15:00Z)", field="at")
    if is_future(at):
        raise InputError("is in the future", field="at")
    return at


def minutes_between(start: datetime, end: datetime) -> float:
    """Minutes from `start` to `end`."""
    return (end - start).total_seconds() / 60.0


# The statements of every charted reading, built once: SQLAlchemy then reuses each one's cache key.
_SESSION_ROW = select(InfusionSession).where(InfusionSession.id == bindparam("session_id"))
_SESSION_ROW_LOCKED = _SESSION_ROW.with_for_update()
_SEGMENTS = (
    select(RateSegment)
    .where(RateSegment.session_id == bindparam("session_id"))
    .order_by(RateSegment.started_at, RateSegment.id)
)
_BOLUS_TOTAL_MG = select(func.coalesce(func.sum(SessionMedication.dose), 0.0)).where(
    SessionMedication.session_id == bindparam("session_id"), SessionMedication.purpose == "ketamine_bolus"
)
_READINGS = (
    select(
        SessionObservation.id,
        SessionObservation.observed_at,
        SessionObservation.phase,
        SessionObservation.values_json,
    )
    .where(SessionObservation.session_id == bindparam("session_id"))
    .order_by(SessionObservation.observed_at, SessionObservation.id)
)


def session_row(session: Session, session_id: int, *, lock: bool = False) -> InfusionSession:
    """The session row (locked for update when writing, so concurrent charting is serial per session)."""
    query = _SESSION_ROW_LOCKED if lock else _SESSION_ROW
    row = session.execute(query, {"session_id": session_id}).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no infusion session {session_id}", field="session_id")
    return row


def require_state(row: InfusionSession, states: frozenset[str], doing: str) -> None:
    """ConflictError unless the session is in one of `states`."""
    if row.state in states:
        return
    if row.state == SessionState.SIGNED.value:
        raise ConflictError("the session is signed and locked: only addenda can be added", field="state")
    raise ConflictError(f"cannot {doing} while the session is {row.state}", field="state")


def t_min_of(row: InfusionSession, at: datetime) -> float:
    """Minutes from the infusion start (0 before it has started)."""
    return 0.0 if row.started_at is None else minutes_between(row.started_at, at)


def pk_weight_kg(row: InfusionSession) -> float:
    """Weight for the PK prediction: measured at check-in, else the plan's dosing weight."""
    return row.measured_weight_kg if row.measured_weight_kg is not None else row.dosing_weight_kg


def plan_of(session: Session, row: InfusionSession) -> PlannedSession:
    """The plan's session this record charts (its contract stands if the plan is cancelled later)."""
    return planned_session(session, row.plan_id, row.session_number, approved_only=False)


def plan_model_key(planned: PlannedSession) -> str:
    """The plan's PK model, else the default model of its drug."""
    return planned.model_key or DEFAULT_MODELS[planned.drug]


def segment_rows(session: Session, session_id: int) -> list[RateSegment]:
    """Charted segments in time order."""
    return list(session.execute(_SEGMENTS, {"session_id": session_id}).scalars())


def infusions(row: InfusionSession, segments: list[RateSegment], until: datetime) -> list[Infusion]:
    """The charted segments as PK infusions (each runs until the next one, the last until `until`)."""
    out: list[Infusion] = []
    if row.started_at is None:
        return out
    for index, seg in enumerate(segments):
        end_at = segments[index + 1].started_at if index + 1 < len(segments) else until
        end_at = min(end_at, until)  # every segment clipped, not only the last
        start = max(0.0, minutes_between(row.started_at, seg.started_at))
        end = minutes_between(row.started_at, end_at)
        if seg.rate_mg_h > 0 and end > start:
            out.append(Infusion(start, end, seg.rate_mg_h))
    return out


def bolus_doses(session: Session, row: InfusionSession) -> list[Bolus]:
    """Ketamine boluses charted after the start, for the PK prediction."""
    if row.started_at is None:
        return []
    rows = session.execute(
        select(SessionMedication).where(
            SessionMedication.session_id == row.id, SessionMedication.purpose == "ketamine_bolus"
        )
    ).scalars()
    return [
        Bolus(minutes_between(row.started_at, m.given_at), m.dose)
        for m in rows
        if m.given_at >= row.started_at
    ]


def ketamine_bolus_total_mg(session: Session, row: InfusionSession) -> float:
    """Every ketamine bolus charted in this session, whatever time it was dated to."""
    return float(session.execute(_BOLUS_TOTAL_MG, {"session_id": row.id}).scalar_one())


def given_mg(session: Session, row: InfusionSession, until: datetime) -> float:
    """Ketamine given in this session: the charted rates up to `until` and every bolus charted."""
    charted = infusions(row, segment_rows(session, row.id), until)
    return Regimen(infusions=tuple(charted)).total_mg + ketamine_bolus_total_mg(session, row)


def session_total_check(
    session: Session,
    row: InfusionSession,
    planned: PlannedSession,
    *,
    until: datetime,
    rate_mg_h: float,
    bolus_mg: float = 0.0,
    config: Config,
) -> LimitCheck:
    """The library's session-total maxima against what this session will have given (a pump's dose limit).

    1. Given: the charted rates up to `until` (every segment clipped there) and every bolus charted.
    2. Plus `bolus_mg` given now.
    3. Plus `rate_mg_h` for the plan's infusion minutes not yet run: a pause does not use them up. At
       least one charting interval is counted, so past the planned end a rate is still checked until
       the next reading is due.
    """
    charted = infusions(row, segment_rows(session, row.id), until)
    ran_min = sum(inf.end_min - inf.start_min for inf in charted)
    planned_min = sum(seg.end_min - seg.start_min for seg in planned.segments if seg.rate_mg_h > 0)
    interval_min = get_cadence(row.cadence).interval_min("vitals", t_min_of(row, until))
    left_min = max(planned_min - ran_min, interval_min)
    total = (
        Regimen(infusions=tuple(charted)).total_mg
        + ketamine_bolus_total_mg(session, row)
        + bolus_mg
        + mg_delivered(rate_mg_h, left_min)
    )
    return check_charted_session_total(clinic_library(config).library, row.context_id, total_mg=total)


def combined_checks(first: LimitCheck, *others: LimitCheck) -> tuple[LimitCheck, dict[str, Any]]:
    """The deciding check (the worst breach, else `first`) and the stored JSON: its fields and every check."""
    checks = [first, *others]
    deciding = worst_check(checks) if worst_verdict(checks) != "ok" else first
    return deciding, deciding.to_json_dict() | {"checks": [c.to_json_dict() for c in checks]}


def soft_breaches(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """The soft breaches in a stored check (older rows stored only the deciding check)."""
    return [c for c in stored.get("checks", [stored]) if c.get("verdict") == "soft"]


def soft_prompt(stored: dict[str, Any]) -> str:
    """The message asking for a reason, naming every soft limit breached."""
    listed = "; ".join(c["message"] for c in soft_breaches(stored))
    return f"soft limit: {listed}; give a reason to confirm"


def limit_changes(stored: dict[str, Any]) -> dict[str, Any]:
    """The audited library breaches of a stored check (every one, not only the deciding one)."""
    breaches = [c["message"] for c in stored.get("checks", [stored]) if c.get("verdict") in ("soft", "hard")]
    return {"limit_breaches": {"old": None, "new": breaches}} if breaches else {}


def observation_rows(session: Session, session_id: int) -> list[SessionObservation]:
    """Flowsheet rows in time order."""
    return list(
        session.execute(
            select(SessionObservation)
            .where(SessionObservation.session_id == session_id)
            .order_by(SessionObservation.observed_at, SessionObservation.id)
        ).scalars()
    )


@lru_cache(maxsize=8192)
def _groups_of(values_json: str) -> tuple[str, ...]:
    """The field groups a stored reading counts for: a pure function of its JSON text, so kept per text
    (every write and poll of a session reads all its readings again)."""
    return tuple(groups_charted(json.loads(values_json)))


@dataclass(frozen=True, slots=True)
class ChartedRecord:
    """What the alert rules read of a session's readings: the cadence clock's times and the baseline."""

    times: dict[str, list[float]]
    baseline: Observation | None


def charted_record(session: Session, row: InfusionSession) -> ChartedRecord:
    """Minutes from the infusion start at which each field group was charted (readings since the start),
    and the pre-infusion reading taken at check-in, from one read of four columns of the readings.
    """
    times: dict[str, list[float]] = {group: [] for group in field_groups()}
    baseline: Observation | None = None
    charted = session.execute(_READINGS, {"session_id": row.id})
    for obs_id, observed_at, phase, values_json in charted:
        if baseline is None and phase == "pre":
            baseline = _observation(row, obs_id, observed_at, values_json)
        if row.started_at is None:
            continue
        t = minutes_between(row.started_at, observed_at)
        if t >= 0:
            for group in _groups_of(values_json):
                times[group].append(t)
    return ChartedRecord(times, baseline)


def charted_times(session: Session, row: InfusionSession) -> dict[str, list[float]]:
    """Minutes from the infusion start at which each field group was charted (readings since the start).

    Reads few columns, not whole readings: every write and every alert poll walks the cadence clock.
    """
    return charted_record(session, row).times


def _observation(row: InfusionSession, obs_id: int, observed_at: datetime, values_json: str) -> Observation:
    values = json.loads(values_json)
    if "cadss6" in values:
        values["cadss6"] = tuple(values["cadss6"])
    t = t_min_of(row, observed_at) if row.started_at is not None else 0.0
    return Observation(t_min=t, obs_id=str(obs_id), **values)


def observation_of(row: InfusionSession, obs: SessionObservation) -> Observation:
    """The pure Observation of a stored reading (t_min from the infusion start, obs_id = row id)."""
    return _observation(row, obs.id, obs.observed_at, obs.values_json)


def baseline_of(session: Session, row: InfusionSession) -> Observation | None:
    """The pre-infusion reading taken at check-in."""
    first = session.execute(
        select(SessionObservation)
        .where(SessionObservation.session_id == row.id, SessionObservation.phase == "pre")
        .order_by(SessionObservation.observed_at, SessionObservation.id)
        .limit(1)
    ).scalar_one_or_none()
    return None if first is None else observation_of(row, first)
