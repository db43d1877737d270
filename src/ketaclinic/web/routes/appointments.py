"""Appointments API under /api/v1/appointments: list, propose, book a series, move, cancel, no-show, .ics."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ketaclinic.scheduling import AppointmentStatus
from ketaclinic.services.permissions import Permission
from ketaclinic.services.scheduling import booking, changes, listing
from ketaclinic.services.scheduling.calendar import CalendarIn, CalendarOut, update_calendar, view_calendar
from ketaclinic.services.scheduling.records import AppointmentOut
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires
from ketaclinic.web.params import RecordId, RecordIdQuery

router = APIRouter()
ViewApi = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW))]
BookApi = Annotated[Principal, Depends(requires(Permission.SCHEDULE_BOOK))]
ConfigApi = Annotated[Principal, Depends(requires(Permission.CONFIG_MANAGE))]
TAGS: list[str | Any] = ["appointments"]
CLINIC_NAME = "ketaclinic"


@router.get("/api/v1/appointments", response_model=list[AppointmentOut], tags=TAGS)
def api_list(
    db: DbDep,
    principal: ViewApi,
    settings: SettingsDep,
    from_date: Annotated[date | None, Query(alias="from")] = None,
    to_date: Annotated[date | None, Query(alias="to")] = None,
    patient_id: RecordIdQuery | None = None,
    plan_id: RecordIdQuery | None = None,
    status: Annotated[AppointmentStatus | None, Query()] = None,
) -> list[AppointmentOut]:
    """Appointments from `from` (default today) to `to` (default 4 weeks on), filtered, by start."""
    return listing.list_appointments(
        db,
        principal.actor,
        settings,
        from_date=from_date,
        to_date=to_date,
        patient_id=patient_id,
        plan_id=plan_id,
        status=status,
    )


@router.get("/api/v1/appointments/proposal", response_model=booking.SeriesProposal, tags=TAGS)
def api_propose(
    db: DbDep,
    principal: BookApi,
    settings: SettingsDep,
    plan_id: RecordIdQuery,
    from_date: Annotated[date | None, Query(alias="from")] = None,
) -> booking.SeriesProposal:
    """The earliest feasible slots for the plan's remaining sessions (nothing is booked)."""
    return booking.propose(db, principal.actor, plan_id, from_date, settings)


@router.post("/api/v1/appointments/series", response_model=list[AppointmentOut], status_code=201, tags=TAGS)
def api_book(
    body: booking.BookSeriesIn, db: DbDep, principal: BookApi, settings: SettingsDep
) -> list[AppointmentOut]:
    """Book the plan's remaining series, all or nothing; a slot taken meanwhile is a 409 naming it."""
    return booking.book_series(db, principal.actor, body, settings)


@router.post("/api/v1/appointments/{appointment_id}/move", response_model=list[AppointmentOut], tags=TAGS)
def api_move(
    appointment_id: RecordId, body: changes.MoveIn, db: DbDep, principal: BookApi, settings: SettingsDep
) -> list[AppointmentOut]:
    """Move one appointment (the moved one first, then any later ones shifted with `shift_later`)."""
    return changes.move(db, principal.actor, appointment_id, body, settings)


@router.post("/api/v1/appointments/{appointment_id}/cancel", response_model=AppointmentOut, tags=TAGS)
def api_cancel(
    appointment_id: RecordId, body: changes.EndIn, db: DbDep, principal: BookApi, settings: SettingsDep
) -> AppointmentOut:
    """Cancel an appointment, with the reason; its chair is free again."""
    return changes.cancel(db, principal.actor, appointment_id, body, settings)


@router.post("/api/v1/appointments/{appointment_id}/no-show", response_model=AppointmentOut, tags=TAGS)
def api_no_show(
    appointment_id: RecordId, body: changes.EndIn, db: DbDep, principal: BookApi, settings: SettingsDep
) -> AppointmentOut:
    """Record that the patient did not come, with the reason."""
    return changes.no_show(db, principal.actor, appointment_id, body, settings)


@router.get("/api/v1/appointments/ics", tags=TAGS)
def api_ics(db: DbDep, principal: ViewApi, settings: SettingsDep, patient_id: RecordIdQuery) -> Response:
    """The patient's series as an iCalendar file, for staff to give the patient."""
    body = listing.patient_ics(db, principal.actor, patient_id, settings, clinic=CLINIC_NAME)
    headers = {"Content-Disposition": f'attachment; filename="appointments-{patient_id}.ics"'}
    return Response(body, media_type="text/calendar", headers=headers)


@router.get("/api/v1/calendar", response_model=CalendarOut, tags=TAGS)
def api_calendar(db: DbDep, principal: ConfigApi, settings: SettingsDep) -> CalendarOut:
    """The clinic calendar in force, each value with its source and status."""
    return view_calendar(db, principal.actor, settings)


@router.put("/api/v1/calendar", response_model=CalendarOut, tags=TAGS)
def api_set_calendar(body: CalendarIn, db: DbDep, principal: ConfigApi, settings: SettingsDep) -> CalendarOut:
    """Set the clinic calendar (audited; names the version read)."""
    return update_calendar(db, principal.actor, body, settings)
