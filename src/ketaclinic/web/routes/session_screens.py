"""The charting screen (/sessions/...): the session list, the chart, its forms and htmx fragments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.monitoring import (
    PREMEDICATION_ROUTES,
    RESCUE_MEDICATIONS,
    RESCUE_ROUTES,
    AdverseEventKind,
    AdverseEventSeverity,
    PregnancyCheck,
)
from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.reports.chart import session_charts
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions import alerts, booking, events, flowsheet, infusion_rates, signing
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, get_settings, render, requires
from ketaclinic.web.forms import blank, error_line, number, text
from ketaclinic.web.nav import NavItem
from ketaclinic.web.session_forms import chart_words, typed_back

router = APIRouter()
NAV = [NavItem("Sessions", "/sessions", Permission.SESSIONS_VIEW, order=40)]

ViewPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
ViewPoll = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True, passive=True))]
ChartPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART, page=True))]
SignPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_SIGN, page=True))]


# --- screens -----------------------------------------------------------------------------------------

_OBS_FIELDS = ("sbp", "dbp", "hr", "spo2", "rr", "rass", "moaas", "dissociation", "nausea", "nrs", "temp_c")


def _chart_values(chart: session_chart.SessionChart, **extra: Any) -> dict[str, Any]:
    """What the chart page shows besides the common context."""
    kinds = observation_kinds()
    return dict(
        chart=chart,
        charts=session_charts(chart),
        kinds=kinds,
        words=chart_words(),
        obs_fields=_OBS_FIELDS,
        ae_kinds=[k.value for k in AdverseEventKind],
        ae_severities=[s.value for s in AdverseEventSeverity],
        rescue_meds=RESCUE_MEDICATIONS,
        premedication_routes=PREMEDICATION_ROUTES,
        rescue_routes=RESCUE_ROUTES,
        pregnancy_checks=list(PregnancyCheck),
        open_alerts=[a for a in chart.alerts if a.state == "open"],
        events_in_order=sorted(
            [("ae", a.onset_at, a) for a in chart.adverse_events]
            + [("med", m.given_at, m) for m in chart.medications],
            key=lambda event: event[1],
        ),
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
    items = booking.list_sessions(db, principal.actor)
    return render(request, "sessions/list.html", items=items, error=None)


@router.post("/sessions/new", response_class=HTMLResponse, include_in_schema=False)
async def new_submit(request: Request, db: DbDep, principal: ChartPage) -> Response:
    """Create a session of an approved plan from the list page."""
    form = await request.form()
    try:
        made = booking.create_session(
            db,
            principal.actor,
            booking.SessionCreate.model_validate(
                {"plan_id": blank(form.get("plan_id")), "session_number": blank(form.get("session_number"))}
            ),
        )
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        items = booking.list_sessions(db, principal.actor)
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
def alerts_fragment(request: Request, session_id: int, db: DbDep, principal: ViewPoll) -> Response:
    """The alerts panel, polled by htmx every few seconds (a poll: not activity for the idle logout)."""
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
    refused: dict[str, Any] = {}
    status = 200
    try:
        flowsheet.chart_observation(
            db, principal.actor, session_id, _observation_values(form), config=get_settings(request)
        )
    except (InputError, ConflictError) as exc:
        refused, status = typed_back("obs-form", form, exc), http_status(exc)
    if not request.headers.get("hx-request"):
        if refused:
            return _render_chart(request, db, principal, session_id, status, **refused)
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    chart = session_chart.view_session(db, principal.actor, session_id, config=get_settings(request))
    response = render(request, "sessions/_live.html", live_fragment=True, **_chart_values(chart, **refused))
    response.headers["HX-Trigger"] = "refresh-alerts"
    return response


def _rate_in(form: FormData) -> infusion_rates.RateIn:
    unit = form.get("unit") or "ml_h"
    value = number(form.get("rate"), "rate")
    key = "pump_ml_h" if unit == "ml_h" else "rate_mg_kg_h"
    return infusion_rates.RateIn.model_validate(
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
        preview = infusion_rates.check_rate_change(
            db, principal.actor, session_id, _rate_in(form), config=settings
        )
    except (ValidationError, InputError, ConflictError) as exc:
        error = error_line(exc, chart_words())
    return render(
        request,
        "sessions/_rate_check.html",
        preview=preview,
        error=error,
        session_id=session_id,
        form=dict(form),
        action="start" if form.get("action") == "start" else "rate",
    )


async def _act(
    request: Request, db: DbDep, principal: Principal, session_id: int, step: Any, form_id: str
) -> Response:
    """Run one form action; back to the chart, or the chart with the error beside the field and what was
    typed in `form_id` kept (4xx)."""
    form = await request.form()
    try:
        step(form)
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        refused = typed_back(form_id, form, exc)
        return _render_chart(request, db, principal, session_id, http_status(exc), **refused)
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.post("/sessions/{session_id}/rate", response_class=HTMLResponse, include_in_schema=False)
async def rate_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Confirm a rate: start the infusion or change the running rate."""

    def step(form: FormData) -> None:
        rate = _rate_in(form)
        if form.get("action") == "start":
            reason = text(form, "start_reason")
            sessions.start(db, principal.actor, session_id, rate, start_reason=reason, config=settings)
        else:
            infusion_rates.change_rate(db, principal.actor, session_id, rate, config=settings)

    return await _act(request, db, principal, session_id, step, "rate")


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
                    "route": str(form.get("premed_route") or PREMEDICATION_ROUTES[0]),
                }
            ]
        values["pregnancy_check"] = blank(form.get("pregnancy_check"))
        values["weight_discrepancy_reason"] = text(form, "weight_discrepancy_reason")
        data = sessions.CheckInIn.model_validate({k: v for k, v in values.items() if v is not None})
        sessions.check_in(db, principal.actor, session_id, data, config=settings)

    return await _act(request, db, principal, session_id, step, "check-in")


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
                sessions.EndIn(reason=reason, early_end_reason=text(form, "early_end_reason")),
                stopped=action == "stop",
                config=settings,
            )
        else:
            raise InputError(f"unknown action {action!r}", field="action")

    return await _act(request, db, principal, session_id, step, "lifecycle")


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
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        error = error_line(exc, chart_words())
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
            alerts.AckIn.model_validate({"action": text(form, "action"), "note": blank(form.get("note"))}),
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
            alerts.ResolveIn.model_validate(
                {
                    "observation_id": blank(form.get("observation_id")),
                    "resolution": blank(form.get("resolution")),
                }
            ),
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

    return await _act(request, db, principal, session_id, step, "ae-form")


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
                "route": form.get("route") or RESCUE_ROUTES[0],
                "reason": text(form, "reason"),
                "note": text(form, "note"),
            }
        )
        events.chart_medication(db, principal.actor, session_id, data, config=settings)

    return await _act(request, db, principal, session_id, step, "med-form")


@router.post("/sessions/{session_id}/discharge", response_class=HTMLResponse, include_in_schema=False)
async def discharge_submit(
    request: Request, session_id: int, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Discharge with the checklist answers."""

    def step(form: FormData) -> None:
        answers = {key.removeprefix("q_"): True for key in form if key.startswith("q_")}
        data = signing.DischargeIn(answers=answers)
        signing.discharge(db, principal.actor, session_id, data, config=settings)

    return await _act(request, db, principal, session_id, step, "discharge")


@router.post("/sessions/{session_id}/sign", response_class=HTMLResponse, include_in_schema=False)
async def sign_submit(request: Request, session_id: int, db: DbDep, principal: SignPage) -> Response:
    """Sign and lock the record."""

    def step(_form: FormData) -> None:
        signing.sign(db, principal.actor, session_id)

    return await _act(request, db, principal, session_id, step, "sign")


@router.post("/sessions/{session_id}/addenda", response_class=HTMLResponse, include_in_schema=False)
async def addendum_submit(request: Request, session_id: int, db: DbDep, principal: ChartPage) -> Response:
    """Add an addendum to the signed record."""

    def step(form: FormData) -> None:
        signing.add_addendum(db, principal.actor, session_id, signing.AddendumIn(text=text(form, "text")))

    return await _act(request, db, principal, session_id, step, "addendum")
