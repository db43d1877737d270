"""Outcomes: PRO entry and courses (API), the follow-up list and the one-time link (/r/); see courses.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.services.outcomes import courses, followup_lists, links, pro_alerts, pros
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import form_errors, number, text
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId

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
    return followup_lists.due_followups(db, principal.actor, horizon_days=horizon_days)


@router.post(
    "/api/v1/patients/{patient_id}/outcomes",
    status_code=201,
    response_model=pros.ProOut,
    tags=["outcomes"],
)
def api_record(patient_id: RecordId, body: pros.ProIn, db: DbDep, principal: RecordApi) -> pros.ProOut:
    """Enter a patient's questionnaire answers (scored; 422 names the bad item)."""
    return pros.record_pro(db, principal.actor, patient_id, body)


@router.get("/api/v1/patients/{patient_id}/outcomes", response_model=list[pros.ProOut], tags=["outcomes"])
def api_list(patient_id: RecordId, db: DbDep, principal: RecordApi) -> list[pros.ProOut]:
    """A patient's PROs."""
    return pros.list_pros(db, principal.actor, patient_id)


@router.post(
    "/api/v1/patients/{patient_id}/courses",
    status_code=201,
    response_model=courses.CourseOut,
    tags=["outcomes"],
)
def api_start_course(
    patient_id: RecordId, body: courses.CourseIn, db: DbDep, principal: RecordApi
) -> courses.CourseOut:
    """Open a treatment course (follow-ups scheduled when the series end is given)."""
    return courses.start_course(db, principal.actor, patient_id, body)


@router.get(
    "/api/v1/patients/{patient_id}/courses", response_model=list[courses.CourseOut], tags=["outcomes"]
)
def api_courses(patient_id: RecordId, db: DbDep, principal: RecordApi) -> list[courses.CourseOut]:
    """A patient's treatment courses with their follow-up items."""
    return courses.list_courses(db, principal.actor, patient_id)


@router.post(
    "/api/v1/courses/{course_id}/discontinuation", response_model=courses.CourseOut, tags=["outcomes"]
)
def api_discontinue(
    course_id: RecordId, body: courses.DiscontinuationIn, db: DbDep, principal: PhysicianApi
) -> courses.CourseOut:
    """A physician records why a course stopped (audited)."""
    return courses.record_discontinuation(db, principal.actor, course_id, body)


@router.post("/api/v1/courses/{course_id}/series-end", response_model=courses.CourseOut, tags=["outcomes"])
def api_end_series(
    course_id: RecordId, body: courses.SeriesEndIn, db: DbDep, principal: RecordApi
) -> courses.CourseOut:
    """End the course: when its series ended and why; open follow-ups are rescheduled, answered ones stay.

    Without `session_dates` the days of the sessions charted for the course are used.
    """
    return courses.end_series(
        db,
        principal.actor,
        course_id,
        body.series_end,
        body.session_dates,
        reason=body.reason,
        version=body.version,
    )


@router.post("/api/v1/outcomes/links", status_code=201, response_model=links.LinkOut, tags=["outcomes"])
def api_link(body: links.LinkIn, db: DbDep, principal: RecordApi) -> links.LinkOut:
    """Issue a one-time questionnaire link for a due item (the URL is shown once, to copy)."""
    return links.issue_link(db, principal.actor, body)


# --- follow-up list -------------------------------------------------------------------------------------


def _followup_context(db: DbDep, principal: Principal) -> dict[str, Any]:
    return {
        "items": followup_lists.due_followups(db, principal.actor),
        "answered": followup_lists.answered_followups(db, principal.actor),
        "awaiting": courses.courses_without_series_end(db, principal.actor),
        "policy": courses.schedule_policy(),
    }


@router.get("/followup", response_class=HTMLResponse, include_in_schema=False)
def followup_page(request: Request, db: DbDep, principal: RecordPage) -> Response:
    """What is due and overdue, with a button to issue a link for each item."""
    return render(request, "outcomes/followup.html", link=None, **_followup_context(db, principal))


@router.post("/followup/{item_id}/link", response_class=HTMLResponse, include_in_schema=False)
def followup_link(request: Request, item_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """Issue (or re-issue: the earlier link is revoked) a link and show its URL to copy."""
    link = links.issue_link(db, principal.actor, links.LinkIn(followup_item_id=item_id))
    url = str(request.base_url).rstrip("/") + link.path
    return render(request, "outcomes/followup.html", link=link, url=url, **_followup_context(db, principal))


# --- the patient's one-time link (public: the token is the credential) ----------------------------------


def _questionnaire_context(view: links.LinkView) -> dict[str, Any]:
    return {
        "view": view,
        "pgic_levels": PGIC_LEVELS,
        "phq9_items": PHQ9_ITEMS,
        "gad7_items": GAD7_ITEMS,
        "frequency": FREQUENCY,
        "bpi_interference": BPI_INTERFERENCE,
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


@router.post("/api/v1/r/{token}", status_code=201, response_model=pro_alerts.SubmitOut, tags=["outcomes"])
def api_link_submit(token: str, body: pros.Answers, db: DbDep, settings: SettingsDep) -> pro_alerts.SubmitOut:
    """The patient's answers as JSON through their one-time link (no login: the token is the credential).

    The same answers, rules and validation as the form: 404 for an unknown link, 410 once used or
    expired, 422 naming the field. `crisis` carries the clinic's crisis text when the answers call for it.
    """
    return links.submit_link(db, token, body, config=settings)


@router.post("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
async def link_submit(request: Request, token: str, db: DbDep, settings: SettingsDep) -> Response:
    """Store the answers and spend the link; bad answers come back next to their question."""
    try:
        view = links.view_link(db, token)
    except (NotFoundError, links.LinkGoneError) as exc:
        return _gone(request, exc)
    form = await request.form()
    try:
        submitted = links.submit_link(db, token, answers_from_form(form), config=settings)
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
    return render(request, "outcomes/thanks.html", first_name=view.first_name, crisis=submitted.crisis)
