"""Scheduling screens: book a plan's series from its page, move or cancel one appointment, the calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, StaleVersionError, http_status
from ketaclinic.services.permissions import Permission
from ketaclinic.services.scheduling import booking, changes, listing
from ketaclinic.services.scheduling.calendar import CalendarIn, update_calendar, view_calendar
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import chosen, error_lines, stale_notes, text, validated, version_of
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId

router = APIRouter()
NAV = [NavItem("Calendar", "/admin/calendar", Permission.CONFIG_MANAGE, order=82)]
BookPage = Annotated[Principal, Depends(requires(Permission.SCHEDULE_BOOK, page=True))]
ViewPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
ConfigPage = Annotated[Principal, Depends(requires(Permission.CONFIG_MANAGE, page=True))]
SLOT_FIELD = "slot"  # each proposed slot comes back as "session_number|chair|starts_at"


def _day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{raw!r} is not a date (YYYY-MM-DD)", field=field) from None


def _book_page(
    request: Request,
    db: DbDep,
    principal: Principal,
    settings: SettingsDep,
    plan_id: int,
    from_raw: str | None,
    errors: list[str],
    status_code: int = 200,
) -> Response:
    proposal = None
    try:
        proposal = booking.propose(db, principal.actor, plan_id, _day(from_raw, "from"), settings)
    except (InputError, ConflictError) as exc:
        errors = [*errors, *error_lines(exc)]
        status_code = max(status_code, http_status(exc))
    return render(
        request,
        "schedule/book.html",
        status_code=status_code,
        plan_id=plan_id,
        proposal=proposal,
        from_date=from_raw or "",
        errors=errors,
    )


@router.get("/plans/{plan_id}/book", response_class=HTMLResponse, include_in_schema=False)
def book_page(
    request: Request,
    plan_id: RecordId,
    db: DbDep,
    principal: BookPage,
    settings: SettingsDep,
    from_date: Annotated[str | None, Query(alias="from", max_length=10)] = None,
) -> Response:
    """The earliest feasible slots for the plan's remaining sessions, to book with one button."""
    return _book_page(request, db, principal, settings, plan_id, from_date, [])


def _slots(form: Any) -> list[booking.SlotIn]:
    slots = []
    for raw in chosen(form, SLOT_FIELD):
        parts = raw.split("|")
        if len(parts) != 3:
            raise InputError("the proposal sent back is malformed: propose the series again", field="slots")
        slots.append(
            validated(booking.SlotIn, {"session_number": parts[0], "chair": parts[1], "starts_at": parts[2]})
        )
    return slots


@router.post("/plans/{plan_id}/book", response_class=HTMLResponse, include_in_schema=False)
async def book_submit(
    request: Request, plan_id: RecordId, db: DbDep, principal: BookPage, settings: SettingsDep
) -> Response:
    """Book the proposed slots as shown, all or nothing; a slot taken meanwhile comes back re-proposed."""
    form = await request.form()
    from_raw = text(form, "from_date") or None
    try:
        data = booking.BookSeriesIn(
            plan_id=plan_id, from_date=_day(from_raw, "from_date"), slots=_slots(form)
        )
        booked = booking.book_series(db, principal.actor, data, settings)
    except (ValidationError, InputError, ConflictError) as exc:
        return _book_page(
            request, db, principal, settings, plan_id, from_raw, error_lines(exc), http_status(exc)
        )
    return RedirectResponse(f"/patients/{booked[0].patient_id}#appointments", status_code=303)


def _change_page(
    request: Request,
    appointment: Any,
    errors: list[str],
    status_code: int = 200,
    *,
    typed: dict[str, str] | None = None,
    stale: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "schedule/change.html",
        status_code=status_code,
        appointment=appointment,
        errors=errors,
        typed=typed or {},
        stale=stale or {},
    )


@router.get("/appointments/{appointment_id}", response_class=HTMLResponse, include_in_schema=False)
def change_page(
    request: Request, appointment_id: RecordId, db: DbDep, principal: BookPage, settings: SettingsDep
) -> Response:
    """One appointment: move it (the later ones too, on request), cancel it, or record a no-show."""
    return _change_page(request, listing.appointment(db, principal.actor, appointment_id, settings), [])


@router.post("/appointments/{appointment_id}", response_class=HTMLResponse, include_in_schema=False)
async def change_submit(
    request: Request, appointment_id: RecordId, db: DbDep, principal: BookPage, settings: SettingsDep
) -> Response:
    """Apply the chosen change (move, cancel, no-show), naming the version the form was opened at."""
    form = await request.form()
    action = text(form, "action")
    typed = {k: text(form, k) for k in ("starts_at", "chair", "reason", "shift_later")}
    try:
        version = version_of(form)
        if action == "move":
            try:
                local = datetime.fromisoformat(typed["starts_at"])
            except ValueError:
                raise InputError("enter the new date and time", field="starts_at") from None
            data = validated(
                changes.MoveIn,
                {
                    "version": version,
                    "starts_at": local if local.tzinfo else local.astimezone(),  # the clinic's local time
                    "chair": typed["chair"] or None,
                    "shift_later": typed["shift_later"] == "on",
                    "reason": typed["reason"],
                },
            )
            moved = changes.move(db, principal.actor, appointment_id, data, settings)
            patient_id = moved[0].patient_id
        elif action in ("cancel", "no_show"):
            end = validated(changes.EndIn, {"version": version, "reason": typed["reason"]})
            do = changes.cancel if action == "cancel" else changes.no_show
            patient_id = do(db, principal.actor, appointment_id, end, settings).patient_id
        else:
            raise InputError("choose move, cancel or no-show", field="action")
    except StaleVersionError as exc:
        current = listing.appointment(db, principal.actor, appointment_id, settings)
        return _change_page(request, current, [], http_status(exc), typed=typed, stale=stale_notes(exc))
    except (ValidationError, InputError, ConflictError) as exc:
        current = listing.appointment(db, principal.actor, appointment_id, settings)
        return _change_page(request, current, error_lines(exc), http_status(exc), typed=typed)
    return RedirectResponse(f"/patients/{patient_id}#appointments", status_code=303)


@router.get("/admin/calendar", response_class=HTMLResponse, include_in_schema=False)
def calendar_page(request: Request, db: DbDep, principal: ConfigPage, settings: SettingsDep) -> Response:
    """The clinic calendar in force, each value with its source, as a form."""
    return render(
        request, "schedule/calendar.html", calendar=view_calendar(db, principal.actor, settings), errors=[]
    )


def _whole(raw: str) -> int | str:
    return int(raw) if raw.strip().isdigit() else raw


def _chairs(form: Any) -> list[dict[str, Any]]:
    rows = []
    for index, (chair_id, name) in enumerate(
        zip(form.getlist("chair_id"), form.getlist("chair_name"), strict=False)
    ):
        if not str(chair_id).strip() and not str(name).strip():
            continue  # the empty row for a new chair
        rows.append({"id": str(chair_id), "name": str(name), "kinds": chosen(form, f"chair_kinds_{index}")})
    return rows


@router.post("/admin/calendar", response_class=HTMLResponse, include_in_schema=False)
async def calendar_submit(
    request: Request, db: DbDep, principal: ConfigPage, settings: SettingsDep
) -> Response:
    """Save the calendar (audited); a stale form changes nothing and says so."""
    form = await request.form()
    try:
        closed = [d.strip() for d in text(form, "closed_dates").replace(",", "\n").splitlines() if d.strip()]
        data = validated(
            CalendarIn,
            {
                "version": version_of(form),
                "open_weekdays": chosen(form, "open_weekdays"),
                "opens_at": text(form, "opens_at"),
                "closes_at": text(form, "closes_at"),
                "closed_dates": closed,
                "chairs": _chairs(form),
                "nurses_on_duty": text(form, "nurses_on_duty"),
                "infusions_per_nurse": text(form, "infusions_per_nurse"),
                "checkin_min": text(form, "checkin_min"),
                "slot_min": _whole(text(form, "slot_min")),  # a choice of numbers: compared as one
            },
        )
        update_calendar(db, principal.actor, data, settings)
    except (InputError, ConflictError) as exc:
        current = view_calendar(db, principal.actor, settings)
        return render(
            request,
            "schedule/calendar.html",
            status_code=http_status(exc),
            calendar=current,
            errors=error_lines(exc),
        )
    return RedirectResponse("/admin/calendar", status_code=303)


@router.get("/patients/{patient_id}/appointments", response_class=HTMLResponse, include_in_schema=False)
def patient_appointments(
    request: Request, patient_id: RecordId, db: DbDep, principal: ViewPage, settings: SettingsDep
) -> Response:
    """The patient page's appointments card: upcoming and past, the .ics link, the no-shows counted."""
    found = listing.patient_appointments(db, principal.actor, patient_id, settings)
    no_shows = sum(1 for a in found.past if a.status == "no_show")
    return render(
        request,
        "patients/_appointments.html",
        patient={"id": patient_id},
        appointments=found,
        no_shows=no_shows,
    )
