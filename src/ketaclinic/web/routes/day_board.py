"""The day board (/today): today's chairs by time, each session's state, updated from the live stream."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions.day_board import day_board, start_from_appointment
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import error_line
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [NavItem("Today", "/today", Permission.SESSIONS_VIEW, order=5)]

ViewPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
BoardPoll = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True, passive=True))]
ChartPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_CHART, page=True))]


def _board(
    request: Request,
    db: DbDep,
    principal: Principal,
    settings: SettingsDep,
    template: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    today = date.today()  # the clinic's day: the server's time zone, as the calendar's hours are
    chairs = day_board(db, principal.actor, today, settings)
    return render(request, template, status_code=status_code, chairs=chairs, day=today, error=error)


@router.get("/today", response_class=HTMLResponse, include_in_schema=False)
def today_page(request: Request, db: DbDep, settings: SettingsDep, principal: ViewPage) -> Response:
    """The day board."""
    return _board(request, db, principal, settings, "today/board.html")


@router.get("/today/board", response_class=HTMLResponse, include_in_schema=False)
def board_fragment(request: Request, db: DbDep, settings: SettingsDep, principal: BoardPoll) -> Response:
    """The board's chairs, refetched on a live event (not activity for the idle logout)."""
    return _board(request, db, principal, settings, "today/_chairs.html")


@router.post(
    "/today/appointments/{appointment_id}/start", response_class=HTMLResponse, include_in_schema=False
)
def start_session(
    request: Request, appointment_id: int, db: DbDep, settings: SettingsDep, principal: ChartPage
) -> Response:
    """Make the session of a booked appointment (it links to the appointment) and open its chart."""
    try:
        session_id = start_from_appointment(db, principal.actor, appointment_id, settings)
    except (InputError, ConflictError, NotFoundError) as exc:
        return _board(request, db, principal, settings, "today/board.html", error_line(exc), http_status(exc))
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)
