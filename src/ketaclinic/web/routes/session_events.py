"""The charting screen's alert panel and event forms: acknowledge or resolve an alert, chart an adverse
event or a dose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.monitoring import RESCUE_ROUTES
from ketaclinic.services.sessions import alerts, events
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, get_settings, render
from ketaclinic.web.forms import blank, error_line, number, text
from ketaclinic.web.params import RecordId
from ketaclinic.web.routes.session_screens import ChartPage
from ketaclinic.web.session_forms import chart_words
from ketaclinic.web.session_page import act

router = APIRouter()


async def _alert_step(
    request: Request,
    db: DbDep,
    principal: Principal,
    session_id: int,
    alert_id: int,
    change: Callable[..., object],
    body: Callable[[FormData], BaseModel],
) -> Response:
    """Apply `change(db, actor, session_id, alert_id, body(form))` from the panel's form, then send the
    panel back (htmx); a refusal keeps what was typed in that alert's form."""
    form = await request.form()
    error = None
    typed: dict[str, Any] = {}
    try:
        change(db, principal.actor, session_id, alert_id, body(form))
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        error = error_line(exc, chart_words())
        typed = {key: str(value) for key, value in form.items() if key != "csrf_token"} | {
            "alert_id": alert_id
        }
    items = session_chart.poll_alerts(db, principal.actor, session_id, config=get_settings(request))
    return render(
        request,
        "sessions/_alerts.html",
        alerts=items,
        session_id=session_id,
        alert_error=error,
        alert_typed=typed,
    )


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/ack", response_class=HTMLResponse, include_in_schema=False
)
async def ack_submit(
    request: Request, session_id: RecordId, alert_id: RecordId, db: DbDep, principal: ChartPage
) -> Response:
    """Acknowledge an alert from the panel."""

    def body(form: FormData) -> alerts.AckIn:
        return alerts.AckIn.model_validate({"action": text(form, "action"), "note": blank(form.get("note"))})

    return await _alert_step(request, db, principal, session_id, alert_id, alerts.acknowledge_alert, body)


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/resolve", response_class=HTMLResponse, include_in_schema=False
)
async def resolve_submit(
    request: Request, session_id: RecordId, alert_id: RecordId, db: DbDep, principal: ChartPage
) -> Response:
    """Resolve an acknowledged alert from the panel."""

    def body(form: FormData) -> alerts.ResolveIn:
        fields = {name: blank(form.get(name)) for name in ("observation_id", "resolution")}
        return alerts.ResolveIn.model_validate(fields)

    return await _alert_step(request, db, principal, session_id, alert_id, alerts.resolve_alert, body)


@router.post("/sessions/{session_id}/adverse-events", response_class=HTMLResponse, include_in_schema=False)
async def adverse_event_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage
) -> Response:
    """Chart an adverse event from the form."""

    def record(form: FormData) -> object:
        fields = ("kind", "severity", "action", "outcome", "note")
        data = events.AdverseEventIn.model_validate({k: text(form, k) for k in fields})
        return events.chart_adverse_event(db, principal.actor, session_id, data)

    return await act(request, db, principal, session_id, record, "ae-form")


@router.post("/sessions/{session_id}/medications", response_class=HTMLResponse, include_in_schema=False)
async def medication_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Chart a dose from the form."""

    def record(form: FormData) -> object:
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
        return events.chart_medication(db, principal.actor, session_id, data, config=settings)

    return await act(request, db, principal, session_id, record, "med-form")
