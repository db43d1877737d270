"""Clinic-wide alerts: the API list, the navigation badge and the home page list (thin over the service)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions.alert_records import AlertOut
from ketaclinic.services.sessions.clinic_alerts import clinic_alerts, open_clinic_alert_count
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires

router = APIRouter()
# Sessions' and patients' alerts need sessions.view; the clinic's own (a stock count) ledger.view.
_SEES_ALERTS = (Permission.SESSIONS_VIEW, Permission.LEDGER_VIEW)
ViewApi = Annotated[Principal, Depends(requires(_SEES_ALERTS))]
# The badge and the home page list poll: a poll is not a person, so it must not keep a login alive.
BadgePoll = Annotated[Principal, Depends(requires(_SEES_ALERTS, page=True, passive=True))]
TAGS: list[str | Any] = ["alerts"]


@router.get("/api/v1/alerts", response_model=list[AlertOut], tags=TAGS)
def api_clinic_alerts(
    db: DbDep,
    principal: ViewApi,
    settings: SettingsDep,
    status: Annotated[Literal["open", "acknowledged", "resolved"], Query()] = "open",
) -> list[AlertOut]:
    """The clinic's critical and physician alerts, each with its session, most severe first, then newest."""
    return clinic_alerts(db, principal.actor, status, config=settings)


@router.get("/alerts/badge", response_class=HTMLResponse, include_in_schema=False)
def alert_badge(request: Request, db: DbDep, principal: BadgePoll) -> Response:
    """The navigation badge: how many clinic-wide alerts are open (polled by every page)."""
    return render(request, "_alert_badge.html", open_count=open_clinic_alert_count(db, principal.actor))


@router.get("/alerts/clinic", response_class=HTMLResponse, include_in_schema=False)
def clinic_alert_list(request: Request, db: DbDep, principal: BadgePoll, settings: SettingsDep) -> Response:
    """The home page's list of open clinic-wide alerts (polled)."""
    return render(request, "_clinic_alerts.html", alerts=clinic_alerts(db, principal.actor, config=settings))
