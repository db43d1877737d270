"""The charting screen (/sessions/...): the session list, the chart, readings, rates, check-in, lifecycle.

Alerts and events are in session_events.py; discharge, signature and addenda in session_signing.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.monitoring import PREMEDICATION_ROUTES
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions import booking, flowsheet, infusion_rates
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, get_settings, render, requires
from ketaclinic.web.forms import blank, error_line, number, text
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId
from ketaclinic.web.session_forms import chart_words, typed_back
from ketaclinic.web.session_page import OBS_FIELDS, act, chart_values, render_chart

router = APIRouter()
NAV = [NavItem("Sessions", "/sessions", Permission.SESSIONS_VIEW, order=40)]

ViewPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
ViewPoll = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True, passive=True))]
ChartPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART, page=True))]
SignPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_SIGN, page=True))]


# --- screens -----------------------------------------------------------------------------------------


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
def detail_page(request: Request, session_id: RecordId, db: DbDep, principal: ViewPage) -> Response:
    """The charting screen (the view is audited)."""
    return render_chart(request, db, principal, session_id)


@router.get("/sessions/{session_id}/alerts", response_class=HTMLResponse, include_in_schema=False)
def alerts_fragment(request: Request, session_id: RecordId, db: DbDep, principal: ViewPoll) -> Response:
    """The alerts panel, polled by htmx every few seconds (a poll: not activity for the idle logout)."""
    items = session_chart.poll_alerts(db, principal.actor, session_id, config=get_settings(request))
    return render(request, "sessions/_alerts.html", alerts=items, session_id=session_id)


@router.get("/sessions/{session_id}/live", response_class=HTMLResponse, include_in_schema=False)
def live_fragment(request: Request, session_id: int, db: DbDep, principal: ViewPoll) -> Response:
    """The flowsheet and charts, refetched when the live stream says the session changed (not activity)."""
    chart = session_chart.refresh_chart(db, principal.actor, session_id, config=get_settings(request))
    return render(request, "sessions/_live.html", live_fragment=True, refreshed=True, **chart_values(chart))


def _observation_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: number(form.get(name), name) for name in OBS_FIELDS}
    values["hallucinations"] = True if form.get("hallucinations") else None
    values["note"] = blank(text(form, "note").strip())
    return {k: v for k, v in values.items() if v is not None}


@router.post("/sessions/{session_id}/observations", response_class=HTMLResponse, include_in_schema=False)
async def observe_submit(request: Request, session_id: RecordId, db: DbDep, principal: ChartPage) -> Response:
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
            return render_chart(request, db, principal, session_id, status, **refused)
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    chart = session_chart.view_session(db, principal.actor, session_id, config=get_settings(request))
    response = render(request, "sessions/_live.html", live_fragment=True, **chart_values(chart, **refused))
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


def _rate_box(
    db: DbDep, principal: Principal, session_id: int, form: FormData, settings: SettingsDep
) -> dict[str, Any]:
    """The confirm box of an entered rate: its library verdict and plan comparison, with what was typed."""
    preview = None
    error = None
    try:
        preview = infusion_rates.check_rate_change(
            db, principal.actor, session_id, _rate_in(form), config=settings
        )
    except (ValidationError, InputError, ConflictError) as exc:
        error = error_line(exc, chart_words())
    return {
        "rate_preview": preview,
        "rate_error": error,
        "rate_form": {key: str(value) for key, value in form.items() if key != "csrf_token"},
        "rate_action": "start" if form.get("action") == "start" else "rate",
    }


@router.post("/sessions/{session_id}/rate/check", response_class=HTMLResponse, include_in_schema=False)
async def rate_check_fragment(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """The library verdict and plan comparison of the entered rate, before confirming it."""
    form = await request.form()
    box = _rate_box(db, principal, session_id, form, settings)
    return render(request, "sessions/_rate_check.html", session_id=session_id, **box)


@router.post("/sessions/{session_id}/rate", response_class=HTMLResponse, include_in_schema=False)
async def rate_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Confirm a rate: start the infusion or change the running rate."""

    def step(form: FormData) -> None:
        rate = _rate_in(form)
        if form.get("action") == "start":
            reason = text(form, "start_reason")
            sessions.start(db, principal.actor, session_id, rate, start_reason=reason, config=settings)
        else:
            infusion_rates.change_rate(db, principal.actor, session_id, rate, config=settings)

    def box_again(form: FormData) -> dict[str, Any]:
        return _rate_box(db, principal, session_id, form, settings)

    return await act(request, db, principal, session_id, step, "rate", box_again)


@router.post("/sessions/{session_id}/check-in", response_class=HTMLResponse, include_in_schema=False)
async def check_in_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
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

    return await act(request, db, principal, session_id, step, "check-in")


def _resume_in(form: FormData) -> sessions.ResumeIn:
    """Resume fields: a blank rate is the pre-pause rate (typed reasons replace its own), else a new rate."""
    if not text(form, "rate").strip():
        return sessions.ResumeIn.model_validate(
            {k: text(form, k) for k in ("limit_reason", "deviation_reason")}
        )
    return sessions.ResumeIn(rate=_rate_in(form))


@router.post("/sessions/{session_id}/lifecycle", response_class=HTMLResponse, include_in_schema=False)
async def lifecycle_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
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

    return await act(request, db, principal, session_id, step, "lifecycle")
