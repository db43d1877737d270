"""The timed flowsheet of a session: readings validated, interpreted, stored with LOINC codes; alerts raised
once per triggering reading in the same transaction.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ketaclinic.errors import InputError
from ketaclinic.monitoring import SessionState, evaluate_observation, get_kind, interpret, parse_observation
from ketaclinic.monitoring.observations import VALUE_FIELDS
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.alert_raising import insert_findings, raise_due
from ketaclinic.services.sessions.charting import (
    CHARTABLE,
    INFUSING,
    Config,
    charted_record,
    dumps,
    minutes_between,
    observation_of,
    require_state,
    session_row,
    t_min_of,
    when,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, SessionObservation

# ---------------------------------------------------------------- flowsheet


class ObservationOut(BaseModel):
    """A stored reading with its interpretation, LOINC codes and the alerts it raised."""

    id: int
    observed_at: datetime
    t_min: float | None
    phase: str
    values: dict[str, Any]
    interpretation: dict[str, str]
    loinc: dict[str, list[str]]
    charted_by: str
    alerts_raised: list[str] = Field(default_factory=list)


def observation_out(
    row: InfusionSession, obs: SessionObservation, raised: list[str] | None = None
) -> ObservationOut:
    """Output model of a stored reading."""
    return ObservationOut(
        id=obs.id,
        observed_at=obs.observed_at,
        t_min=None if row.started_at is None else minutes_between(row.started_at, obs.observed_at),
        phase=obs.phase,
        values=json.loads(obs.values_json),
        interpretation=json.loads(obs.interpretation_json),
        loinc=json.loads(obs.loinc_json),
        charted_by=obs.charted_by,
        alerts_raised=raised or [],
    )


def _phase(row: InfusionSession) -> str:
    if row.state == SessionState.CHECKED_IN.value or row.started_at is None:
        return "pre"
    return "infusion" if row.state in INFUSING else "recovery"


def record_observation(
    session: Session,
    actor: Actor,
    row: InfusionSession,
    raw: dict[str, Any],
    *,
    phase: str | None = None,
    config: Config,
) -> tuple[SessionObservation, list[str]]:
    """Validate, store and interpret one reading; raise its alerts (and overdue ones) in this transaction."""
    values = dict(raw)
    at_raw = values.pop("at", None)
    for forbidden in ("t_min", "obs_id"):
        if forbidden in values:
            raise InputError("is set by the server (give 'at' for a past reading)", field=forbidden)
    at = when(_parse_at(at_raw))
    if row.started_at is not None and at < row.started_at - timedelta(hours=6):
        raise InputError("is more than 6 hours before the infusion start", field="at")
    t = t_min_of(row, at)
    obs = parse_observation({k: v for k, v in values.items() if v is not None}, default_t_min=t)
    charted = {name: getattr(obs, name) for name in VALUE_FIELDS if getattr(obs, name) is not None}
    if not charted:
        raise InputError("chart at least one value", field="observation")
    if "cadss6" in charted:
        charted["cadss6"] = list(charted["cadss6"])
    stored = SessionObservation(
        session_id=row.id,
        observed_at=at,
        phase=phase or _phase(row),
        values_json=dumps(charted),
        interpretation_json=dumps({k: v.value for k, v in interpret(obs).items()}),
        loinc_json=dumps({name: list(get_kind(name).loinc) for name in charted}),
        charted_by=actor.username,
        charted_at=utcnow(),
    )
    session.add(stored)
    session.flush()
    record = charted_record(session, row)  # with this reading
    baseline = record.baseline if stored.phase != "pre" else None
    reading = observation_of(row, stored)
    raised = insert_findings(
        session, actor, row.id, evaluate_observation(reading, baseline), observation_id=stored.id
    )
    if row.started_at is not None:
        # Slots missed before this reading and the total given by then (a poll or a chart view catches up).
        raise_due(session, row, record.times, at, config)
    publish(session, LiveEvent("reading", row.state, session_id=row.id, observation_id=stored.id))
    return stored, raised


def _parse_at(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InputError(f"{value!r} is not an ISO 8601 time", field="at")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{value!r} is not an ISO 8601 time", field="at") from None


def chart_observation(
    db: Database, actor: Actor, session_id: int, raw: dict[str, Any], *, config: Config
) -> ObservationOut:
    """Chart one flowsheet reading: impossible values are refused naming the field, alerts raised once."""
    require(actor, Permission.SESSIONS_CHART)
    if not isinstance(raw, dict):
        raise InputError("is not an object", field="observation")
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        require_state(row, CHARTABLE - {SessionState.CHECKED_IN.value}, "chart a reading")
        stored, raised = record_observation(session, actor, row, raw, config=config)
        changes = {
            "observation_id": {"old": None, "new": stored.id},
            "values": {"old": None, "new": json.loads(stored.values_json)},
        }
        if raised:
            changes["alerts"] = {"old": None, "new": raised}
        audit(session, actor, "chart", "infusion_session", row.id, changes)
        return observation_out(row, stored, raised)
