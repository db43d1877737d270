"""Outcomes: PRO entry and courses (API), the follow-up list, a course page, and the one-time link (/r/)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, StaleVersionError, http_status
from ketaclinic.outcomes.instruments import get_questionnaire, instrument_sources
from ketaclinic.services.outcomes import courses, links, pros
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.forms import form_errors, number, stale_notes, text, version_of
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [NavItem("Follow-up", "/followup", Permission.OUTCOMES_RECORD, order=50)]

RecordApi = Annotated[Principal, Depends(requires(Permission.OUTCOMES_RECORD))]
RecordPage = Annotated[Principal, Depends(requires(Permission.OUTCOMES_RECORD, page=True))]
PhysicianApi = Annotated[Principal, Depends(requires(Permission.PLANS_APPROVE))]

PGIC_LEVELS = tuple(enumerate(pros.pgic_labels(), start=1))
PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed, or the opposite: being so "
    "fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
)
GAD7_ITEMS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)
FREQUENCY = ("Not at all", "Several days", "More than half the days", "Nearly every day")
BPI_INTERFERENCE = (
    ("general_activity", "General activity"),
    ("mood", "Mood"),
    ("walking_ability", "Walking ability"),
    ("normal_work", "Normal work (outside the home and housework)"),
    ("relations_with_others", "Relations with other people"),
    ("sleep", "Sleep"),
    ("enjoyment_of_life", "Enjoyment of life"),
)


# --- JSON API -------------------------------------------------------------------------------------------


@router.get("/api/v1/outcomes/due", response_model=list[courses.FollowupOut], tags=["outcomes"])
def api_due(
    db: DbDep, principal: RecordApi, horizon_days: Annotated[int, Query(ge=0, le=90)] = 7
) -> list[courses.FollowupOut]:
    """Follow-ups due within `horizon_days` and overdue ones."""
    return courses.due_followups(db, principal.actor, horizon_days=horizon_days)


@router.post(
    "/api/v1/patients/{patient_id}/outcomes",
    status_code=201,
    response_model=pros.ProOut,
    tags=["outcomes"],
)
def api_record(patient_id: int, body: pros.ProIn, db: DbDep, principal: RecordApi) -> pros.ProOut:
    """Enter a patient's questionnaire answers (scored; 422 names the bad item)."""
    return pros.record_pro(db, principal.actor, patient_id, body)


@router.get("/api/v1/patients/{patient_id}/outcomes", response_model=list[pros.ProOut], tags=["outcomes"])
def api_list(patient_id: int, db: DbDep, principal: RecordApi) -> list[pros.ProOut]:
    """A patient's PROs."""
    return pros.list_pros(db, principal.actor, patient_id)


@router.post(
    "/api/v1/patients/{patient_id}/courses",
    status_code=201,
    response_model=courses.CourseOut,
    tags=["outcomes"],
)
def api_start_course(
    patient_id: int, body: courses.CourseIn, db: DbDep, principal: RecordApi
) -> courses.CourseOut:
    """Open a treatment course (follow-ups scheduled when the series end is given)."""
    return courses.start_course(db, principal.actor, patient_id, body)


@router.get(
    "/api/v1/patients/{patient_id}/courses", response_model=list[courses.CourseOut], tags=["outcomes"]
)
def api_courses(patient_id: int, db: DbDep, principal: RecordApi) -> list[courses.CourseOut]:
    """A patient's treatment courses with their follow-up items."""
    return courses.list_courses(db, principal.actor, patient_id)


@router.post(
    "/api/v1/courses/{course_id}/discontinuation", response_model=courses.CourseOut, tags=["outcomes"]
)
def api_discontinue(
    course_id: int, body: courses.DiscontinuationIn, db: DbDep, principal: PhysicianApi
) -> courses.CourseOut:
    """A physician records why a course stopped (audited)."""
    return courses.record_discontinuation(db, principal.actor, course_id, body)


@router.post("/api/v1/courses/{course_id}/series-end", response_model=courses.CourseOut, tags=["outcomes"])
def api_end_series(
    course_id: int, body: courses.SeriesEndIn, db: DbDep, principal: RecordApi
) -> courses.CourseOut:
    """Record when the series ended; follow-ups still due are rescheduled, answered ones stay.

    Without `session_dates` the days of the sessions charted for the course are used.
    """
    return courses.end_series(
        db, principal.actor, course_id, body.series_end, body.session_dates, version=body.version
    )


@router.post("/api/v1/outcomes/links", status_code=201, response_model=links.LinkOut, tags=["outcomes"])
def api_link(body: links.LinkIn, db: DbDep, principal: RecordApi) -> links.LinkOut:
    """Issue a one-time questionnaire link for a due item (the URL is shown once; nothing is sent)."""
    return links.issue_link(db, principal.actor, body)


# --- follow-up list -------------------------------------------------------------------------------------


def _followup_context(db: DbDep, principal: Principal) -> dict[str, Any]:
    return {
        "items": courses.due_followups(db, principal.actor),
        "awaiting": courses.courses_without_series_end(db, principal.actor),
        "policy": courses.schedule_policy(),
    }


@router.get("/followup", response_class=HTMLResponse, include_in_schema=False)
def followup_page(request: Request, db: DbDep, principal: RecordPage) -> Response:
    """What is due and overdue, with a button to issue a link for each item."""
    return render(request, "outcomes/followup.html", link=None, **_followup_context(db, principal))


@router.post("/followup/{item_id}/link", response_class=HTMLResponse, include_in_schema=False)
def followup_link(request: Request, item_id: int, db: DbDep, principal: RecordPage) -> Response:
    """Issue a link and show its URL to copy."""
    link = links.issue_link(db, principal.actor, links.LinkIn(followup_item_id=item_id))
    url = str(request.base_url).rstrip("/") + link.path
    return render(request, "outcomes/followup.html", link=link, url=url, **_followup_context(db, principal))


# --- one course: its follow-ups and the series end -----------------------------------------------------


def _course_page(
    request: Request,
    db: DbDep,
    principal: Principal,
    course_id: int,
    *,
    errors: dict[str, str],
    value: str = "",
    recorded: bool = False,
    stale: StaleVersionError | None = None,
) -> Response:
    course = courses.get_course(db, principal.actor, course_id)
    return render(
        request,
        "outcomes/course.html",
        status_code=http_status(stale) if stale else 422 if errors else 200,
        course=course,
        errors=errors,
        stale=stale_notes(stale) if stale else {},
        value=value or (course.series_end.isoformat() if course.series_end else ""),
        recorded=recorded,
        latest=date.today() + timedelta(days=1),
        today=date.today(),
        policy=courses.schedule_policy(),
    )


@router.get("/courses/{course_id}", response_class=HTMLResponse, include_in_schema=False)
def course_page(
    request: Request, course_id: int, db: DbDep, principal: RecordPage, recorded: bool = False
) -> Response:
    """A treatment course: its follow-ups and the form to record when its series ended."""
    return _course_page(request, db, principal, course_id, errors={}, recorded=recorded)


def _series_end_of(raw: str) -> date:
    if not raw:
        raise InputError("give the date of the last session of the series", field="series_end")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{raw!r} is not a date (YYYY-MM-DD)", field="series_end") from None


@router.post("/courses/{course_id}/series-end", response_class=HTMLResponse, include_in_schema=False)
async def course_end_series(request: Request, course_id: int, db: DbDep, principal: RecordPage) -> Response:
    """Record the series end from the course page; a bad date comes back next to the field.

    A stale form (the course changed since it was opened) comes back with the typed date and the stored one.
    """
    form = await request.form()
    raw = text(form, "series_end").strip()
    try:
        courses.end_series(db, principal.actor, course_id, _series_end_of(raw), version=version_of(form))
    except StaleVersionError as exc:
        return _course_page(request, db, principal, course_id, errors={}, value=raw, stale=exc)
    except InputError as exc:
        field = "version" if exc.field == "version" else "series_end"
        return _course_page(request, db, principal, course_id, errors={field: exc.message}, value=raw)
    return RedirectResponse(f"/courses/{course_id}?recorded=1", status_code=303)


# --- the patient's one-time link (public: the token is the credential) ----------------------------------


def _questionnaire_context(view: links.LinkView) -> dict[str, Any]:
    return {
        "view": view,
        "pgic_levels": PGIC_LEVELS,
        "phq9_items": PHQ9_ITEMS,
        "gad7_items": GAD7_ITEMS,
        "frequency": FREQUENCY,
        "bpi_interference": BPI_INTERFERENCE,
        "sources": instrument_sources(),
        "phq9": get_questionnaire("phq9"),
    }


def _gone(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, ConflictError | NotFoundError) else str(exc)
    return render(request, "outcomes/link_gone.html", message=message, status_code=http_status(exc))


def _number(form: FormData, name: str) -> float | None:
    return number(text(form, name).strip(), name)


def _whole(value: float, field: str) -> int:
    """A whole-number answer as int; a fraction is refused, never truncated."""
    if not value.is_integer():
        raise InputError(f"{value:g} is not one of the answers", field=field)
    return int(value)


def _items(form: FormData, prefix: str, count: int) -> list[int] | None:
    values = [_number(form, f"{prefix}_{i}") for i in range(1, count + 1)]
    if all(v is None for v in values):
        return None
    missing = [i for i, v in enumerate(values, start=1) if v is None]
    if missing:
        raise InputError("please answer every question", field=f"{prefix}.item{missing[0]}")
    return [_whole(v, f"{prefix}.item{i}") for i, v in enumerate(values, start=1) if v is not None]


def answers_from_form(form: FormData) -> pros.Answers:
    """The questionnaire form as Answers (blank instruments are left out)."""
    nrs = {k: _number(form, f"nrs_{k}") for k in ("now", "average", "worst")}
    pgic = _number(form, "pgic")
    # BPI severity is the four pain ratings (worst, least, average, now): scored when all are given.
    severity = {**nrs, "least": _number(form, "nrs_least")}
    interference = {name: _number(form, f"bpi_{name}") for name, _label in BPI_INTERFERENCE}
    bpi: dict[str, Any] = {}
    if all(v is not None for v in severity.values()):
        bpi["severity"] = severity
    if any(v is not None for v in interference.values()):
        bpi["interference"] = interference
    return pros.Answers.model_validate(
        {
            "nrs": {"recall": "24h", **nrs} if any(v is not None for v in nrs.values()) else None,
            "pgic": None if pgic is None else _whole(pgic, "pgic"),
            "bpi": bpi or None,
            "phq9": _items(form, "phq9", len(PHQ9_ITEMS)),
            "gad7": _items(form, "gad7", len(GAD7_ITEMS)),
        }
    )


@router.get("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
def link_page(request: Request, token: str, db: DbDep) -> Response:
    """The questionnaire, and nothing else: a first name at most, no login."""
    try:
        view = links.view_link(db, token)
    except (NotFoundError, links.LinkGoneError) as exc:
        return _gone(request, exc)
    return render(
        request, "outcomes/questionnaire.html", errors={}, values={}, **_questionnaire_context(view)
    )


@router.post("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
async def link_submit(request: Request, token: str, db: DbDep) -> Response:
    """Store the answers and spend the link; bad answers come back next to their question."""
    try:
        view = links.view_link(db, token)
    except (NotFoundError, links.LinkGoneError) as exc:
        return _gone(request, exc)
    form = await request.form()
    try:
        links.submit_link(db, token, answers_from_form(form))
    except (NotFoundError, links.LinkGoneError) as exc:
        return _gone(request, exc)
    except (InputError, ValidationError) as exc:
        return render(
            request,
            "outcomes/questionnaire.html",
            errors=form_errors(exc),
            values=dict(form),
            status_code=422,
            **_questionnaire_context(view),
        )
    return render(request, "outcomes/thanks.html", first_name=view.first_name)
