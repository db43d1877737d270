"""Infusion sessions: the JSON API (/api/v1/sessions/...) and the charting screen (/sessions/...)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.monitoring import RESCUE_MEDICATIONS, AdverseEventKind, AdverseEventSeverity
from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.reports.svg import concentration_chart
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions import alerts, charting, events, flowsheet
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, get_settings, render, requires
from ketaclinic.web.forms import blank, error_line, number, text
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [NavItem("Sessions", "/sessions", Permission.SESSIONS_VIEW, order=40)]

ViewApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW))]
ChartApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART))]
SignApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_SIGN))]
ViewPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
ChartPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART, page=True))]
SignPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_SIGN, page=True))]
TAGS: list[str | Any] = ["sessions"]


class StateOut(BaseModel):
    """A session's state after a lifecycle step."""

    id: int
    state: str


class AtIn(BaseModel):
    """An optional clock time for a step charted late."""

    model_config = ConfigDict(extra="forbid")
    at: datetime | None = None


# --- JSON API ----------------------------------------------------------------------------------------


@router.get("/api/v1/sessions", response_model=list[sessions.SessionSummary], tags=TAGS)
def api_list(db: DbDep, principal: ViewApi) -> list[sessions.SessionSummary]:
    """Today's sessions and every session under way."""
    return sessions.list_sessions(db, principal.actor)


@router.post("/api/v1/sessions", status_code=201, response_model=sessions.SessionSummary, tags=TAGS)
def api_create(body: sessions.SessionCreate, db: DbDep, principal: ChartApi) -> sessions.SessionSummary:
    """Create the session `session_number` of an approved plan."""
    return sessions.create_session(db, principal.actor, body)


@router.get("/api/v1/sessions/{session_id}", response_model=session_chart.SessionChart, tags=TAGS)
def api_get(
    session_id: int, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> session_chart.SessionChart:
    """The full chart (the view is audited)."""
    return session_chart.view_session(db, principal.actor, session_id, config=settings)


@router.post("/api/v1/sessions/{session_id}/check-in", response_model=StateOut, tags=TAGS)
def api_check_in(
    session_id: int, body: sessions.CheckInIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Pre-infusion vitals, weight, pain, premedication and pregnancy check."""
    return StateOut(
        id=session_id, state=sessions.check_in(db, principal.actor, session_id, body, config=settings)
    )


@router.post("/api/v1/sessions/{session_id}/start", response_model=StateOut, tags=TAGS)
def api_start(
    session_id: int, body: charting.RateIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Start the infusion at its first (checked) rate."""
    return StateOut(
        id=session_id, state=sessions.start(db, principal.actor, session_id, body, config=settings)
    )


@router.post("/api/v1/sessions/{session_id}/pause", response_model=StateOut, tags=TAGS)
def api_pause(
    session_id: int, db: DbDep, principal: ChartApi, settings: SettingsDep, body: AtIn | None = None
) -> StateOut:
    """Pause the pump."""
    at = body.at if body else None
    return StateOut(id=session_id, state=sessions.pause(db, principal.actor, session_id, at, config=settings))


@router.post("/api/v1/sessions/{session_id}/resume", response_model=StateOut, tags=TAGS)
def api_resume(
    session_id: int,
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
    session_id: int, db: DbDep, principal: ChartApi, settings: SettingsDep, body: sessions.EndIn | None = None
) -> StateOut:
    """The infusion ran to its end: recovery begins."""
    state = sessions.end_infusion(
        db, principal.actor, session_id, body or sessions.EndIn(), stopped=False, config=settings
    )
    return StateOut(id=session_id, state=state)


@router.post("/api/v1/sessions/{session_id}/stop", response_model=StateOut, tags=TAGS)
def api_stop(
    session_id: int, body: sessions.EndIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> StateOut:
    """Stop the infusion early (reason required): recovery begins."""
    state = sessions.end_infusion(db, principal.actor, session_id, body, stopped=True, config=settings)
    return StateOut(id=session_id, state=state)


@router.post(
    "/api/v1/sessions/{session_id}/rate", status_code=201, response_model=charting.SegmentOut, tags=TAGS
)
def api_rate(
    session_id: int, body: charting.RateIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> charting.SegmentOut:
    """Chart a rate change (library-checked; soft needs limit_reason, a plan deviation deviation_reason)."""
    return charting.change_rate(db, principal.actor, session_id, body, config=settings)


@router.post("/api/v1/sessions/{session_id}/rate/check", response_model=charting.RatePreview, tags=TAGS)
def api_rate_check(
    session_id: int, body: charting.RateIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> charting.RatePreview:
    """What the library and the plan say about a rate (nothing stored)."""
    return charting.check_rate_change(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/sessions/{session_id}/observations",
    status_code=201,
    response_model=flowsheet.ObservationOut,
    tags=TAGS,
)
def api_observe(
    session_id: int,
    db: DbDep,
    principal: ChartApi,
    body: Annotated[dict[str, Any], Body()],
    settings: SettingsDep,
) -> flowsheet.ObservationOut:
    """Chart a flowsheet reading (fields of monitoring.Observation, optional `at`)."""
    return flowsheet.chart_observation(db, principal.actor, session_id, body, config=settings)


@router.get("/api/v1/sessions/{session_id}/alerts", response_model=list[alerts.AlertOut], tags=TAGS)
def api_alerts(
    session_id: int, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> list[alerts.AlertOut]:
    """The session's alerts (polled); alerts that come due with time are raised here."""
    return session_chart.poll_alerts(db, principal.actor, session_id, config=settings)


@router.post("/api/v1/sessions/{session_id}/alerts/{alert_id}/ack", response_model=alerts.AlertOut, tags=TAGS)
def api_ack(
    session_id: int, alert_id: int, body: alerts.AckIn, db: DbDep, principal: ChartApi
) -> alerts.AlertOut:
    """Acknowledge an alert with the action taken."""
    return alerts.acknowledge_alert(db, principal.actor, session_id, alert_id, body)


@router.post(
    "/api/v1/sessions/{session_id}/alerts/{alert_id}/resolve", response_model=alerts.AlertOut, tags=TAGS
)
def api_resolve(
    session_id: int, alert_id: int, body: alerts.ResolveIn, db: DbDep, principal: ChartApi
) -> alerts.AlertOut:
    """Resolve an acknowledged alert."""
    return alerts.resolve_alert(db, principal.actor, session_id, alert_id, body)


@router.post(
    "/api/v1/sessions/{session_id}/adverse-events",
    status_code=201,
    response_model=events.AdverseEventOut,
    tags=TAGS,
)
def api_adverse_event(
    session_id: int, body: events.AdverseEventIn, db: DbDep, principal: ChartApi
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
    session_id: int, body: events.MedicationIn, db: DbDep, principal: ChartApi, settings: SettingsDep
) -> events.MedicationOut:
    """Chart a dose given (premedication, rescue, ketamine bolus)."""
    return events.chart_medication(db, principal.actor, session_id, body, config=settings)


@router.post("/api/v1/sessions/{session_id}/discharge", response_model=StateOut, tags=TAGS)
def api_discharge(session_id: int, body: sessions.DischargeIn, db: DbDep, principal: ChartApi) -> StateOut:
    """Discharge: the checklist must be met."""
    return StateOut(id=session_id, state=sessions.discharge(db, principal.actor, session_id, body))


@router.post("/api/v1/sessions/{session_id}/sign", response_model=StateOut, tags=TAGS)
def api_sign(session_id: int, db: DbDep, principal: SignApi) -> StateOut:
    """Sign and lock the record."""
    return StateOut(id=session_id, state=sessions.sign(db, principal.actor, session_id))


@router.post("/api/v1/sessions/{session_id}/addenda", status_code=201, tags=TAGS)
def api_addendum(
    session_id: int, body: sessions.AddendumIn, db: DbDep, principal: ChartApi
) -> dict[str, int]:
    """Add an addendum to a signed record."""
    return {"id": sessions.add_addendum(db, principal.actor, session_id, body)}


# --- screens -----------------------------------------------------------------------------------------

_OBS_FIELDS = ("sbp", "dbp", "hr", "spo2", "rr", "rass", "moaas", "dissociation", "nausea", "nrs", "temp_c")


def _charts(chart: session_chart.SessionChart) -> dict[str, str]:
    """The vitals and concentration charts on one time axis (minutes from the start)."""
    pred = chart.prediction
    if pred is None or chart.started_at is None:
        return {}
    t_all = pred.t_min + [t for t in pred.projected_t_min if t > (pred.t_min[-1] if pred.t_min else 0)]
    t_max = max(t_all + [o.t_min or 0.0 for o in chart.observations] + [1.0])
    n_charted = len(pred.t_min)
    cp: list[float | None] = [*pred.cp_ng_ml, *([None] * (len(t_all) - n_charted))]
    projected: list[float | None] = [None] * len(t_all)
    if len(t_all) > n_charted and n_charted:
        projected[n_charted - 1] = pred.cp_ng_ml[-1]
        for i, v in enumerate(pred.projected_cp_ng_ml[-(len(t_all) - n_charted) :]):
            projected[n_charted + i] = v
    series: dict[str, list[float | None]] = {"Cp charted": cp}
    if pred.ce_ng_ml is not None:
        series["Ce charted"] = [*pred.ce_ng_ml, *([None] * (len(t_all) - n_charted))]
    if any(v is not None for v in projected):
        series["Cp projected to planned end"] = projected
    markers = [(s.t_min or 0.0, f"{s.pump_ml_h:g} mL/h") for s in chart.segments if s.t_min is not None]
    markers += [(a.t_min, a.kind) for a in chart.adverse_events if a.t_min is not None and a.t_min >= 0]
    conc = concentration_chart(
        t_all,
        series,
        bands=[
            {
                "label": b.label,
                "low": b.low_ng_ml,
                "high": b.high_ng_ml,
                "source": b.source,
                "status": b.status,
            }
            for b in pred.bands
        ],
        title=f"Predicted ketamine concentration ({pred.model_key}, {pred.weight_kg:g} kg)",
        markers=markers,
        t_max=t_max,
    )
    names = {"sbp": "SBP mmHg", "dbp": "DBP mmHg", "hr": "HR /min", "spo2": "SpO2 %"}
    readings = [
        o
        for o in chart.observations
        if o.t_min is not None and o.t_min >= 0 and any(o.values.get(k) is not None for k in names)
    ]
    vitals = ""
    if readings:
        # Dots as well as lines: one reading, or one between gaps, draws no line segment.
        vitals = concentration_chart(
            [o.t_min or 0.0 for o in readings],
            {label: [o.values.get(key) for o in readings] for key, label in names.items()},
            title="Vital signs",
            y_label="mmHg, /min, %",
            plot_height=180,
            t_max=t_max,
            points=True,
        )
    return {"concentration": conc, "vitals": vitals}


def _chart_values(chart: session_chart.SessionChart, **extra: Any) -> dict[str, Any]:
    """What the chart page shows besides the common context."""
    kinds = observation_kinds()
    return dict(
        chart=chart,
        charts=_charts(chart),
        kinds=kinds,
        obs_fields=_OBS_FIELDS,
        ae_kinds=[k.value for k in AdverseEventKind],
        ae_severities=[s.value for s in AdverseEventSeverity],
        rescue_meds=RESCUE_MEDICATIONS,
        open_alerts=[a for a in chart.alerts if a.state == "open"],
        **extra,
    )


def _render_chart(
    request: Request, db: DbDep, principal: Principal, session_id: int, status: int = 200, **extra: Any
) -> Response:
    chart = session_chart.view_session(db, principal.actor, session_id, config=get_settings(request))
    return render(request, "sessions/detail.html", status_code=status, **_chart_values(chart, **extra))


@router.get("/sessions", response_class=HTMLResponse, include_in_schema=False)
def list_page(request: Request, db: DbDep, principal: ViewPage) -> Response:
    """Today's sessions and those under way."""
    items = sessions.list_sessions(db, principal.actor)
    return render(request, "sessions/list.html", items=items, error=None)


@router.post("/sessions/new", response_class=HTMLResponse, include_in_schema=False)
async def new_submit(request: Request, db: DbDep, principal: ChartPage) -> Response:
    """Create a session of an approved plan from the list page."""
    form = await request.form()
    try:
        made = sessions.create_session(
            db,
            principal.actor,
            sessions.SessionCreate.model_validate(
                {"plan_id": blank(form.get("plan_id")), "session_number": blank(form.get("session_number"))}
            ),
        )
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        items = sessions.list_sessions(db, principal.actor)
        return render(
            request,
            "sessions/list.html",
            items=items,
            error=error_line(exc),
            status_code=http_status(exc),
        )
    return RedirectResponse(f"/sessions/{made.id}", status_code=303)


@router.get("/sessions/{session_id}", response_class=HTMLResponse, include_in_schema=False)
def detail_page(request: Request, session_id: int, db: DbDep, principal: ViewPage) -> Response:
    """The charting screen (the view is audited)."""
    return _render_chart(request, db, principal, session_id)


@router.get("/sessions/{session_id}/alerts", response_class=HTMLResponse, include_in_schema=False)
def alerts_fragment(request: Request, session_id: int, db: DbDep, principal: ViewPage) -> Response:
    """The alerts panel, polled by htmx every few seconds."""
    items = session_chart.poll_alerts(db, principal.actor, session_id, config=get_settings(request))
    return render(request, "sessions/_alerts.html", alerts=items, session_id=session_id)


def _observation_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: number(form.get(name), name) for name in _OBS_FIELDS}
    values["hallucinations"] = True if form.get("hallucinations") else None
    values["note"] = blank(text(form, "note").strip())
    return {k: v for k, v in values.items() if v is not None}


@router.post("/sessions/{session_id}/observations", response_class=HTMLResponse, include_in_schema=False)
async def observe_submit(request: Request, session_id: int, db: DbDep, principal: ChartPage) -> Response:
    """Chart a reading from the one-row form; htmx gets the refreshed flowsheet and charts."""
    form = await request.form()
    error = None
    status = 200
    try:
        flowsheet.chart_observation(
            db, principal.actor, session_id, _observation_values(form), config=get_settings(request)
        )
    except (InputError, ConflictError) as exc:
        error, status = error_line(exc), http_status(exc)
    if not request.headers.get("hx-request"):
        if error:
            return _render_chart(request, db, principal, session_id, status, error=error)
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    chart = session_chart.view_session(db, principal.actor, session_id, config=get_settings(request))
    response = render(
        request,
        "sessions/_live.html",
        **_chart_values(chart, obs_error=error, obs_values=dict(form) if error else {}),
    )
    response.headers["HX-Trigger"] = "refresh-alerts"
    return response


def _rate_in(form: FormData) -> charting.RateIn:
    unit = form.get("unit") or "ml_h"
    value = number(form.get("rate"), "rate")
    key = "pump_ml_h" if unit == "ml_h" else "rate_mg_kg_h"
    return charting.RateIn.model_validate(
        {
            key: value,
            "limit_reason": text(form, "limit_reason"),
            "deviation_reason": text(form, "deviation_reason"),
        }
    )


@router.post("/sessions/{session_id}/rate/check", response_class=HTMLResponse, include_in_schema=False)
async def rate_check_fragment(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """The library verdict and plan comparison of the entered rate, before confirming it."""
    form = await request.form()
    preview = None
    error = None
    try:
        preview = charting.check_rate_change(db, principal.actor, session_id, _rate_in(form), config=settings)
    except (ValidationError, InputError, ConflictError) as exc:
        error = error_line(exc)
    return render(
        request,
        "sessions/_rate_check.html",
        preview=preview,
        error=error,
        session_id=session_id,
        form=dict(form),
        action="start" if form.get("action") == "start" else "rate",
    )


async def _act(request: Request, db: DbDep, principal: Principal, session_id: int, step: Any) -> Response:
    """Run one form action; back to the chart, or the chart with the error (4xx)."""
    form = await request.form()
    try:
        step(form)
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        return _render_chart(request, db, principal, session_id, http_status(exc), error=error_line(exc))
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.post("/sessions/{session_id}/rate", response_class=HTMLResponse, include_in_schema=False)
async def rate_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Confirm a rate: start the infusion or change the running rate."""

    def step(form: FormData) -> None:
        rate = _rate_in(form)
        if form.get("action") == "start":
            sessions.start(db, principal.actor, session_id, rate, config=settings)
        else:
            charting.change_rate(db, principal.actor, session_id, rate, config=settings)

    return await _act(request, db, principal, session_id, step)


@router.post("/sessions/{session_id}/check-in", response_class=HTMLResponse, include_in_schema=False)
async def check_in_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Check the patient in from the form."""

    def step(form: FormData) -> None:
        values: dict[str, Any] = {
            k: number(form.get(k), k)
            for k in ("weight_kg", "sbp", "dbp", "hr", "spo2", "rr", "temp_c", "nrs")
        }
        premed = text(form, "premed_medication")
        if premed == "none":
            values["premedication_none"] = True
        elif premed:
            values["premedication"] = [
                {
                    "medication": premed,
                    "dose": number(form.get("premed_dose"), "premed_dose"),
                    "route": str(form.get("premed_route") or "PO"),
                }
            ]
        values["pregnancy_check"] = blank(form.get("pregnancy_check"))
        data = sessions.CheckInIn.model_validate({k: v for k, v in values.items() if v is not None})
        sessions.check_in(db, principal.actor, session_id, data, config=settings)

    return await _act(request, db, principal, session_id, step)


def _resume_in(form: FormData) -> sessions.ResumeIn:
    """Resume fields: a blank rate is the pre-pause rate (typed reasons replace its own), else a new rate."""
    if not text(form, "rate").strip():
        return sessions.ResumeIn.model_validate(
            {k: text(form, k) for k in ("limit_reason", "deviation_reason")}
        )
    return sessions.ResumeIn(rate=_rate_in(form))


@router.post("/sessions/{session_id}/lifecycle", response_class=HTMLResponse, include_in_schema=False)
async def lifecycle_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Pause, resume, complete or stop from the buttons."""

    def step(form: FormData) -> None:
        action = form.get("action")
        reason = text(form, "reason")
        if action == "pause":
            sessions.pause(db, principal.actor, session_id, config=settings)
        elif action == "resume":
            sessions.resume(db, principal.actor, session_id, _resume_in(form), config=settings)
        elif action in ("complete", "stop"):
            sessions.end_infusion(
                db,
                principal.actor,
                session_id,
                sessions.EndIn(reason=reason),
                stopped=action == "stop",
                config=settings,
            )
        else:
            raise InputError(f"unknown action {action!r}", field="action")

    return await _act(request, db, principal, session_id, step)


async def _alert_panel_after(
    request: Request,
    db: DbDep,
    principal: Principal,
    session_id: int,
    change: Callable[[FormData], object],
) -> Response:
    """Apply an alert change from the panel's form, then send the panel back (htmx)."""
    form = await request.form()
    error = None
    try:
        change(form)
    except (ValidationError, ConflictError, NotFoundError) as exc:
        error = error_line(exc)
    items = session_chart.poll_alerts(db, principal.actor, session_id, config=get_settings(request))
    return render(request, "sessions/_alerts.html", alerts=items, session_id=session_id, alert_error=error)


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/ack", response_class=HTMLResponse, include_in_schema=False
)
async def ack_submit(
    request: Request, session_id: int, alert_id: int, db: DbDep, principal: ChartPage
) -> Response:
    """Acknowledge an alert from the panel."""
    return await _alert_panel_after(
        request,
        db,
        principal,
        session_id,
        lambda form: alerts.acknowledge_alert(
            db,
            principal.actor,
            session_id,
            alert_id,
            alerts.AckIn(action_taken=text(form, "action_taken")),
        ),
    )


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/resolve", response_class=HTMLResponse, include_in_schema=False
)
async def resolve_submit(
    request: Request, session_id: int, alert_id: int, db: DbDep, principal: ChartPage
) -> Response:
    """Resolve an acknowledged alert from the panel."""
    return await _alert_panel_after(
        request,
        db,
        principal,
        session_id,
        lambda form: alerts.resolve_alert(
            db,
            principal.actor,
            session_id,
            alert_id,
            alerts.ResolveIn(resolution=text(form, "resolution")),
        ),
    )


@router.post("/sessions/{session_id}/adverse-events", response_class=HTMLResponse, include_in_schema=False)
async def adverse_event_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage
) -> Response:
    """Chart an adverse event from the form."""

    def step(form: FormData) -> None:
        fields = ("kind", "severity", "action", "outcome", "note")
        data = events.AdverseEventIn.model_validate({k: text(form, k) for k in fields})
        events.chart_adverse_event(db, principal.actor, session_id, data)

    return await _act(request, db, principal, session_id, step)


@router.post("/sessions/{session_id}/medications", response_class=HTMLResponse, include_in_schema=False)
async def medication_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Chart a dose from the form."""

    def step(form: FormData) -> None:
        data = events.MedicationIn.model_validate(
            {
                "purpose": form.get("purpose") or "rescue",
                "medication": form.get("medication") or "",
                "dose": number(form.get("dose"), "dose"),
                "route": form.get("route") or "IV",
                "reason": text(form, "reason"),
                "note": text(form, "note"),
            }
        )
        events.chart_medication(db, principal.actor, session_id, data, config=settings)

    return await _act(request, db, principal, session_id, step)


@router.post("/sessions/{session_id}/discharge", response_class=HTMLResponse, include_in_schema=False)
async def discharge_submit(request: Request, session_id: int, db: DbDep, principal: ChartPage) -> Response:
    """Discharge with the checklist answers."""

    def step(form: FormData) -> None:
        answers = {key.removeprefix("q_"): True for key in form if key.startswith("q_")}
        sessions.discharge(db, principal.actor, session_id, sessions.DischargeIn(answers=answers))

    return await _act(request, db, principal, session_id, step)


@router.post("/sessions/{session_id}/sign", response_class=HTMLResponse, include_in_schema=False)
async def sign_submit(request: Request, session_id: int, db: DbDep, principal: SignPage) -> Response:
    """Sign and lock the record."""
    return await _act(
        request, db, principal, session_id, lambda _form: sessions.sign(db, principal.actor, session_id)
    )


@router.post("/sessions/{session_id}/addenda", response_class=HTMLResponse, include_in_schema=False)
async def addendum_submit(request: Request, session_id: int, db: DbDep, principal: ChartPage) -> Response:
    """Add an addendum to the signed record."""

    def step(form: FormData) -> None:
        sessions.add_addendum(db, principal.actor, session_id, sessions.AddendumIn(text=text(form, "text")))

    return await _act(request, db, principal, session_id, step)
