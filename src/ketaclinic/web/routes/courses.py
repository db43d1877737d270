"""Course screens: one course (its sessions, follow-ups and links; ending it), and opening one by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, NotFoundError, StaleVersionError, http_status
from ketaclinic.services.outcomes import course_view, courses, links
from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import Permission
from ketaclinic.services.plans.records import list_plans
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.forms import blank, form_errors, stale_notes, text, version_of
from ketaclinic.web.params import RecordId

router = APIRouter()

RecordPage = Annotated[Principal, Depends(requires(Permission.OUTCOMES_RECORD, page=True))]


def course_page(
    request: Request,
    db: DbDep,
    principal: Principal,
    course_id: RecordId,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    recorded: bool = False,
    link: links.LinkOut | None = None,
    status_code: int | None = None,
    stale: StaleVersionError | None = None,
) -> Response:
    """The course page, with the end form's problems or its changes since opened, or a link to copy."""
    course = course_view.course_view(db, principal.actor, course_id)
    values = values or {}
    values.setdefault("series_end", course.series_end.isoformat() if course.series_end else "")
    return render(
        request,
        "outcomes/course.html",
        status_code=status_code or (http_status(stale) if stale else 422 if errors else 200),
        course=course,
        errors=errors or {},
        stale=stale_notes(stale) if stale else {},
        values=values,
        recorded=recorded,
        link=link,
        url=str(request.base_url).rstrip("/") + link.path if link else "",
        latest=date.today() + timedelta(days=1),
        today=date.today(),
        policy=courses.schedule_policy(),
    )


@router.get("/courses/{course_id}", response_class=HTMLResponse, include_in_schema=False)
def course_screen(
    request: Request, course_id: RecordId, db: DbDep, principal: RecordPage, recorded: bool = False
) -> Response:
    """A treatment course: its sessions, its follow-ups with their links, and the form to end it."""
    return course_page(request, db, principal, course_id, recorded=recorded)


def _series_end_of(raw: str) -> date:
    if not raw:
        raise InputError("give the date of the last session of the series", field="series_end")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{raw!r} is not a date (YYYY-MM-DD)", field="series_end") from None


@router.post("/courses/{course_id}/series-end", response_class=HTMLResponse, include_in_schema=False)
async def course_end(request: Request, course_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """End the course (its last session's date and why); a problem comes back next to its field.

    A stale form (the course changed since it was opened) comes back with what was typed and what is stored.
    """
    form = await request.form()
    values = {"series_end": text(form, "series_end").strip(), "reason": text(form, "reason").strip()}
    try:
        courses.end_series(
            db,
            principal.actor,
            course_id,
            _series_end_of(values["series_end"]),
            reason=values["reason"],
            version=version_of(form),
        )
    except StaleVersionError as exc:
        return course_page(request, db, principal, course_id, values=values, stale=exc)
    except InputError as exc:
        return course_page(request, db, principal, course_id, errors=form_errors(exc), values=values)
    return RedirectResponse(f"/courses/{course_id}?recorded=1", status_code=303)


@router.post("/courses/{course_id}/links", response_class=HTMLResponse, include_in_schema=False)
async def course_link(request: Request, course_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """Issue (or re-issue) a follow-up's link and show it to copy on the course page."""
    item_id = text(await request.form(), "followup_item_id")
    try:
        link = links.issue_link(
            db,
            principal.actor,
            links.LinkIn.model_validate({"followup_item_id": item_id, "course_id": course_id}),
        )
    except (ValidationError, ConflictError) as exc:
        return course_page(
            request, db, principal, course_id, errors=form_errors(exc), status_code=http_status(exc)
        )
    return course_page(request, db, principal, course_id, link=link)


# --- opening a course by hand ---------------------------------------------------------------------------


def _open_form(
    request: Request,
    db: DbDep,
    principal: Principal,
    patient_id: int,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    patient = registry.view_patient(db, principal.actor, patient_id)
    approved = list_plans(db, principal.actor, patient_id=patient_id, statuses=("approved",))
    return render(
        request,
        "outcomes/course_open.html",
        status_code=status_code,
        patient=patient,
        plans=approved,
        values=values,
        errors=errors,
    )


@router.get("/patients/{patient_id}/courses/new", response_class=HTMLResponse, include_in_schema=False)
def open_screen(request: Request, patient_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """The form to open a course by hand (approving a plan opens one by itself)."""
    return _open_form(
        request, db, principal, patient_id, values={"started_on": date.today().isoformat()}, errors={}
    )


@router.post("/patients/{patient_id}/courses", response_class=HTMLResponse, include_in_schema=False)
async def open_submit(request: Request, patient_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """Open the course and go to its page; a problem comes back next to its field."""
    form = await request.form()
    values = {k: blank(text(form, k).strip()) for k in ("started_on", "plan_id", "sessions_planned")}
    try:
        course = courses.start_course(
            db,
            principal.actor,
            patient_id,
            courses.CourseIn.model_validate({k: v for k, v in values.items() if v is not None}),
        )
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:  # NotFound: the plan_id
        return _open_form(
            request,
            db,
            principal,
            patient_id,
            values=values,
            errors=form_errors(exc, top_level=True),
            status_code=http_status(exc),
        )
    return RedirectResponse(f"/courses/{course.id}", status_code=303)
