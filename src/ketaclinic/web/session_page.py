"""The charting screen as a page: what it shows, and a form action that comes back to it (or to the chart
with the refusal beside the fields and everything typed kept)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
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
from ketaclinic.services.ledger import catalogue, on_hand, reconciling
from ketaclinic.services.ledger.common import ledger_policy
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.web.deps import DbDep, Principal, get_settings, render
from ketaclinic.web.session_forms import chart_words, typed_back

OBS_FIELDS = ("sbp", "dbp", "hr", "spo2", "rr", "rass", "moaas", "dissociation", "nausea", "nrs", "temp_c")
DISCHARGE_PREFIX = "q_"  # a discharge question's checkbox is q_<key>


def discharge_answers(form: FormData | dict[str, str]) -> dict[str, bool]:
    """The discharge questions ticked in the form."""
    return {key.removeprefix(DISCHARGE_PREFIX): True for key in form if key.startswith(DISCHARGE_PREFIX)}


def chart_values(chart: session_chart.SessionChart, **extra: Any) -> dict[str, Any]:
    """What the chart page shows besides the common context."""
    kinds = observation_kinds()
    return dict(
        chart=chart,
        charts=session_charts(chart),
        kinds=kinds,
        words=chart_words(),
        obs_fields=OBS_FIELDS,
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


def render_chart(
    request: Request, db: DbDep, principal: Principal, session_id: int, status: int = 200, **extra: Any
) -> Response:
    """The chart page; after a refused discharge its checklist judges the ticks that were typed."""
    typed = extra.get("typed") if extra.get("typed_form") == "discharge" else None
    chart = session_chart.view_session(
        db,
        principal.actor,
        session_id,
        config=get_settings(request),
        typed_answers=None if typed is None else discharge_answers(typed),
    )
    ledger = ledger_panel(db, principal, session_id, get_settings(request))
    return render(
        request, "sessions/detail.html", status_code=status, **chart_values(chart, **ledger, **extra)
    )


def ledger_panel(db: DbDep, principal: Principal, session_id: int, settings: Any) -> dict[str, Any]:
    """The chart's preparation and waste panel: the reconciliation and the containers a bag can come from."""
    if not principal.can(Permission.LEDGER_VIEW):
        return {"ledger": None}
    return {
        "ledger": reconciling.reconciliation(db, principal.actor, session_id, config=settings),
        "ledger_containers": [
            c for c in on_hand.containers_in_stock(db, principal.actor) if not c.quarantined
        ],
        "ledger_products": {p.id: p for p in catalogue.list_products(db, principal.actor, config=settings)},
        "ledger_policy": ledger_policy(settings),
    }


async def act(
    request: Request,
    db: DbDep,
    principal: Principal,
    session_id: int,
    step: Callable[[FormData], object],
    form_id: str,
    refused_extra: Callable[[FormData], dict[str, Any]] | None = None,
) -> Response:
    """Run one form action; back to the chart, or the chart with the error beside the field and what was
    typed in `form_id` kept (4xx); `refused_extra` adds what a refused form shows besides (its preview)."""
    form = await request.form()
    try:
        step(form)
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        refused = typed_back(form_id, form, exc)
        if refused_extra is not None:
            refused |= refused_extra(form)
        return render_chart(request, db, principal, session_id, http_status(exc), **refused)
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)
