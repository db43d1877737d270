"""Infusion sessions: the JSON API (/api/v1/sessions/...); the screens are in routes/session_screens.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict

from ketaclinic.inputs import IsoDateTime
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions import (
    alert_records,
    alerts,
    booking,
    events,
    flowsheet,
    infusion_rates,
    signing,
)
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires
from ketaclinic.web.params import RecordId

router = APIRouter()

ViewApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW))]
ChartApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART))]
SignApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_SIGN))]
TAGS: list[str | Any] = ["sessions"]


class StateOut(BaseModel):
    """A session's state after a lifecycle step."""

    id: int
    state: str


class AtIn(BaseModel):
    """An optional clock time for a step charted late."""

    model_config = ConfigDict(extra="forbid")
    at: IsoDateTime | None = None


# --- JSON API ----------------------------------------------------------------------------------------


@router.get("/api/v1/sessions", response_model=list[booking.SessionSummary], tags=TAGS)
def api_list(db: DbDep, principal: ViewApi) -> list[booking.SessionSummary]:
    """Today's sessions and every session under way."""
    return booking.list_sessions(db, principal.actor)


@router.post("/api/v1/sessions", status_code=201, response_model=booking.SessionSummary, tags=TAGS)
def api_create(body: booking.SessionCreate, db: DbDep, principal: ChartApi) -> booking.SessionSummary:
    """Create the session `session_number` of an approved plan."""
    return booking.create_session(db, principal.actor, body)


@router.get("/api/v1/sessions/{session_id}", response_model=session_chart.SessionChart, tags=TAGS)
def api_get(
    session_id: RecordId, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> session_chart.SessionChart:
    """The full chart (the view is audited)."""
    return session_chart.view_session(db, principal.actor, session_id, config=settings)


@router.post("/api/v1/sessions/{session_id}/check-in", response_model=StateOut, tags=TAGS)
def api_check_in(
    session_id: RecordId, body: sessions.CheckInIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Pre-infusion vitals, weight, pain, premedication and pregnancy check."""
    return StateOut(
        id=session_id, state=sessions.check_in(db, principal.actor, session_id, body, config=settings)
    )


@router.post("/api/v1/sessions/{session_id}/start", response_model=StateOut, tags=TAGS)
def api_start(
    session_id: RecordId, body: sessions.StartIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Start the infusion at its first (checked) rate; out of schedule it needs start_reason."""
    state = sessions.start(
        db, principal.actor, session_id, body, start_reason=body.start_reason, config=settings
    )
    return StateOut(id=session_id, state=state)


@router.post("/api/v1/sessions/{session_id}/pause", response_model=StateOut, tags=TAGS)
def api_pause(
    session_id: RecordId, db: DbDep, principal: ChartApi, settings: SettingsDep, body: AtIn | None = None
) -> StateOut:
    """Pause the pump."""
    at = body.at if body else None
    return StateOut(id=session_id, state=sessions.pause(db, principal.actor, session_id, at, config=settings))


@router.post("/api/v1/sessions/{session_id}/resume", response_model=StateOut, tags=TAGS)
def api_resume(
    session_id: RecordId,
    db: DbDep,
    principal: ChartApi,
    settings: SettingsDep,
    body: sessions.ResumeIn | None = None,
) -> StateOut:
    """Resume at the rate before the pause, or a new rate."""
    data = body or sessions.ResumeIn()
    return StateOut(
        id=session_id, state=sessions.resume(db, principal.actor, session_id, data, config=settings)
    )


@router.post("/api/v1/sessions/{session_id}/complete", response_model=StateOut, tags=TAGS)
def api_complete(
    session_id: RecordId,
    db: DbDep,
    principal: ChartApi,
    settings: SettingsDep,
    body: sessions.EndIn | None = None,
) -> StateOut:
    """The infusion ran to its end: recovery begins."""
    state = sessions.end_infusion(
        db, principal.actor, session_id, body or sessions.EndIn(), stopped=False, config=settings
    )
    return StateOut(id=session_id, state=state)


@router.post("/api/v1/sessions/{session_id}/stop", response_model=StateOut, tags=TAGS)
def api_stop(
    session_id: RecordId, body: sessions.EndIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Stop the infusion early (reason required): recovery begins."""
    state = sessions.end_infusion(db, principal.actor, session_id, body, stopped=True, config=settings)
    return StateOut(id=session_id, state=state)


@router.post(
    "/api/v1/sessions/{session_id}/rate", status_code=201, response_model=infusion_rates.SegmentOut, tags=TAGS
)
def api_rate(
    session_id: RecordId, body: infusion_rates.RateIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> infusion_rates.SegmentOut:
    """Chart a rate change (library-checked; soft needs limit_reason, a plan deviation deviation_reason)."""
    return infusion_rates.change_rate(db, principal.actor, session_id, body, config=settings)


@router.post("/api/v1/sessions/{session_id}/rate/check", response_model=infusion_rates.RatePreview, tags=TAGS)
def api_rate_check(
    session_id: RecordId, body: infusion_rates.RateIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> infusion_rates.RatePreview:
    """What the library and the plan say about a rate (nothing stored)."""
    return infusion_rates.check_rate_change(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/sessions/{session_id}/observations",
    status_code=201,
    response_model=flowsheet.ObservationOut,
    tags=TAGS,
)
def api_observe(
    session_id: RecordId,
    db: DbDep,
    principal: ChartApi,
    body: Annotated[dict[str, Any], Body()],
    settings: SettingsDep,
) -> flowsheet.ObservationOut:
    """Chart a flowsheet reading (fields of monitoring.Observation, optional `at`)."""
    return flowsheet.chart_observation(db, principal.actor, session_id, body, config=settings)


@router.get("/api/v1/sessions/{session_id}/alerts", response_model=list[alert_records.AlertOut], tags=TAGS)
def api_alerts(
    session_id: RecordId, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> list[alert_records.AlertOut]:
    """The session's alerts (polled); alerts that come due with time are raised here."""
    return session_chart.poll_alerts(db, principal.actor, session_id, config=settings)


@router.post(
    "/api/v1/sessions/{session_id}/alerts/{alert_id}/ack", response_model=alert_records.AlertOut, tags=TAGS
)
def api_ack(
    session_id: RecordId, alert_id: RecordId, body: alerts.AckIn, db: DbDep, principal: ChartApi
) -> alert_records.AlertOut:
    """Acknowledge an alert with the action taken."""
    return alerts.acknowledge_alert(db, principal.actor, session_id, alert_id, body)


@router.post(
    "/api/v1/sessions/{session_id}/alerts/{alert_id}/resolve",
    response_model=alert_records.AlertOut,
    tags=TAGS,
)
def api_resolve(
    session_id: RecordId, alert_id: RecordId, body: alerts.ResolveIn, db: DbDep, principal: ChartApi
) -> alert_records.AlertOut:
    """Resolve an acknowledged alert."""
    return alerts.resolve_alert(db, principal.actor, session_id, alert_id, body)


@router.post(
    "/api/v1/sessions/{session_id}/adverse-events",
    status_code=201,
    response_model=events.AdverseEventOut,
    tags=TAGS,
)
def api_adverse_event(
    session_id: RecordId, body: events.AdverseEventIn, db: DbDep, principal: ChartApi
) -> events.AdverseEventOut:
    """Chart an adverse event (the predicted Cp at onset is stored)."""
    return events.chart_adverse_event(db, principal.actor, session_id, body)


@router.post(
    "/api/v1/sessions/{session_id}/medications",
    status_code=201,
    response_model=events.MedicationOut,
    tags=TAGS,
)
def api_medication(
    session_id: RecordId, body: events.MedicationIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> events.MedicationOut:
    """Chart a dose given (premedication, rescue, ketamine bolus)."""
    return events.chart_medication(db, principal.actor, session_id, body, config=settings)


@router.post("/api/v1/sessions/{session_id}/discharge", response_model=StateOut, tags=TAGS)
def api_discharge(
    session_id: RecordId, body: signing.DischargeIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Discharge: the minimum recovery observed and the checklist met on post-infusion readings."""
    state = signing.discharge(db, principal.actor, session_id, body, config=settings)
    return StateOut(id=session_id, state=state)


@router.post("/api/v1/sessions/{session_id}/sign", response_model=StateOut, tags=TAGS)
def api_sign(session_id: RecordId, db: DbDep, principal: SignApi, settings: SettingsDep) -> StateOut:
    """Sign and lock the record (its controlled drugs reconciled first, when the clinic's policy asks)."""
    return StateOut(id=session_id, state=signing.sign(db, principal.actor, session_id, config=settings))


@router.post("/api/v1/sessions/{session_id}/addenda", status_code=201, tags=TAGS)
def api_addendum(
    session_id: RecordId, body: signing.AddendumIn, db: DbDep, principal: ChartApi
) -> dict[str, int]:
    """Add an addendum to a signed record."""
    return {"id": signing.add_addendum(db, principal.actor, session_id, body)}
