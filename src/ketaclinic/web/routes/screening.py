"""Screening: JSON API and the physician's screens (intake, verdict, signature); consent is in consent.py."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, StaleVersionError, http_status
from ketaclinic.screening import CONDITION_CODES, intake_json_schema, list_diagnoses
from ketaclinic.screening.diagnoses import PainMechanism, PriorTreatmentOutcome
from ketaclinic.services import eligibility
from ketaclinic.services.patients import records, registry
from ketaclinic.services.permissions import Actor, Permission
from ketaclinic.services.screening import consent
from ketaclinic.services.screening import screenings as screening
from ketaclinic.store.db import Database
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import (
    StaleNote,
    blank,
    error_lines,
    form_errors,
    stale_notes,
    text,
    validated,
    version_of,
)
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId
from ketaclinic.web.screening_forms import INTAKE_WORDS, intake_from_form

router = APIRouter()
NAV = [NavItem("Screening", "/screening", Permission.SCREENING_EDIT, order=20)]

ViewApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW))]
EditApi = Annotated[Principal, Depends(requires(Permission.SCREENING_EDIT))]
SignApi = Annotated[Principal, Depends(requires(Permission.SCREENING_SIGN))]
ViewPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW, page=True))]
EditPage = Annotated[Principal, Depends(requires(Permission.SCREENING_EDIT, page=True))]
SignPage = Annotated[Principal, Depends(requires(Permission.SCREENING_SIGN, page=True))]

TAG: list[str | Enum] = ["screening"]


# --- API -------------------------------------------------------------------------------------------


@router.get("/api/v1/screening/conditions", tags=TAG)
def api_conditions(principal: ViewApi) -> list[dict[str, str]]:
    """Every condition code accepted in an intake, with its label."""
    return [{"code": code, "label": label} for code, label in CONDITION_CODES.items()]


@router.get("/api/v1/screening/intake-schema", tags=TAG)
def api_intake_schema(principal: ViewApi) -> dict[str, Any]:
    """The JSON schema of the intake (docs/intake.md)."""
    return intake_json_schema()


@router.post("/api/v1/screening/evaluate", tags=TAG)
def api_evaluate(body: screening.ScreeningIn, db: DbDep, principal: EditApi) -> dict[str, Any]:
    """Evaluate an intake without storing it (verdict, reasons, tests, prerequisites, evidence)."""
    return screening.evaluate_intake(db, principal.actor, body)


@router.get("/api/v1/patients/{patient_id}/intake-prefill", tags=TAG)
def api_prefill(patient_id: RecordId, db: DbDep, principal: EditApi) -> dict[str, Any]:
    """The intake fields the registry already knows for this patient."""
    return screening.intake_prefill(db, principal.actor, patient_id)


@router.post(
    "/api/v1/patients/{patient_id}/screenings",
    status_code=201,
    response_model=screening.ScreeningOut,
    tags=TAG,
)
def api_create(
    patient_id: RecordId, body: screening.ScreeningIn, db: DbDep, principal: EditApi
) -> screening.ScreeningOut:
    """Create a draft screening and evaluate it."""
    return screening.create_screening(db, principal.actor, patient_id, body)


@router.get("/api/v1/patients/{patient_id}/screenings", response_model=list[screening.ScreeningOut], tags=TAG)
def api_list(patient_id: RecordId, db: DbDep, principal: ViewApi) -> list[screening.ScreeningOut]:
    """A patient's screenings, newest first."""
    return screening.list_screenings(db, principal.actor, patient_id)


@router.get("/api/v1/screenings/{screening_id}", response_model=screening.ScreeningOut, tags=TAG)
def api_get(screening_id: RecordId, db: DbDep, principal: ViewApi) -> screening.ScreeningOut:
    """One screening (the view is audited)."""
    return screening.get_screening(db, principal.actor, screening_id)


@router.put("/api/v1/screenings/{screening_id}", response_model=screening.ScreeningOut, tags=TAG)
def api_update(
    screening_id: RecordId, body: screening.ScreeningUpdate, db: DbDep, principal: EditApi
) -> screening.ScreeningOut:
    """Replace a draft's intake and re-evaluate (send the version read; 409 once signed or when stale)."""
    return screening.update_screening(db, principal.actor, screening_id, body)


@router.post("/api/v1/screenings/{screening_id}/sign", response_model=screening.ScreeningOut, tags=TAG)
def api_sign(
    screening_id: RecordId, body: screening.SignIn, db: DbDep, principal: SignApi
) -> screening.ScreeningOut:
    """Sign the draft version read; it is locked from then on (409 when already signed or stale)."""
    return screening.sign_screening(db, principal.actor, screening_id, body)


@router.post(
    "/api/v1/screenings/{screening_id}/addenda",
    status_code=201,
    response_model=screening.ScreeningOut,
    tags=TAG,
)
def api_addendum(
    screening_id: RecordId, body: screening.AddendumIn, db: DbDep, principal: EditApi
) -> screening.ScreeningOut:
    """Add a note to a signed screening."""
    return screening.add_addendum(db, principal.actor, screening_id, body)


# --- page context ----------------------------------------------------------------------------------


def _intake_choices() -> dict[str, Any]:
    return {
        "diagnosis_choices": list_diagnoses(),
        "mechanisms": [m.value for m in PainMechanism],
        "outcomes": [o.value for o in PriorTreatmentOutcome],
        "sexes": ["female", "male", "other", "unknown"],
        "conditions": CONDITION_CODES,
    }


def _intake_page(
    request: Request,
    patient: records.PatientOut,
    values: dict[str, Any],
    *,
    refused: Exception | None = None,
    editing: int | None = None,
    version: int | None = None,
    stale: dict[str, StaleNote] | None = None,
    high_frequent: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "screening/intake.html",
        patient=patient,
        values=values,
        errors=form_errors(refused, words=INTAKE_WORDS) if refused else {},
        problems=error_lines(refused, INTAKE_WORDS) if refused else [],
        editing=editing,
        version=version,
        stale=stale or {},
        high_frequent=high_frequent,
        status_code=status_code,
        **_intake_choices(),
    )


# --- screens ---------------------------------------------------------------------------------------


@router.get("/screening", response_class=HTMLResponse, include_in_schema=False)
def list_page(request: Request, db: DbDep, principal: EditPage) -> Response:
    """Recent screenings and their verdicts."""
    rows = screening.recent_screenings(db, principal.actor, limit=200)
    return render(request, "screening/list.html", rows=rows)


@router.get("/patients/{patient_id}/screening", response_class=HTMLResponse, include_in_schema=False)
def patient_page(
    request: Request, patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: ViewPage
) -> Response:
    """A patient's screenings and consents, with what blocks a dose plan per consented protocol."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    screenings = screening.list_screenings(db, principal.actor, patient_id)
    consents = consent.list_consents(db, principal.actor, patient_id, config=settings)
    gates = eligibility.missing_per_protocol(
        db, principal.actor, patient_id, [c.protocol_id for c in consents if c.status == "signed"]
    )
    return render(
        request,
        "screening/patient.html",
        patient=patient,
        screenings=screenings,
        consents=consents,
        gates=gates,
    )


@router.get("/patients/{patient_id}/screening/new", response_class=HTMLResponse, include_in_schema=False)
def new_page(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """The intake form, pre-filled from the registry."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    values = screening.intake_prefill(db, principal.actor, patient_id)
    return _intake_page(request, patient, values)


@router.post("/patients/{patient_id}/screening/new", response_class=HTMLResponse, include_in_schema=False)
async def new_submit(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Create and evaluate; a bad intake comes back with the field named."""
    form = await request.form()
    values = intake_from_form(form)
    high_frequent = form.get("planned_high_frequent_dosing") == "yes"
    try:
        made = screening.create_screening(
            db,
            principal.actor,
            patient_id,
            screening.ScreeningIn(intake=values, planned_high_frequent_dosing=high_frequent),
        )
    except (ValidationError, InputError) as exc:
        patient = registry.view_patient(db, principal.actor, patient_id)
        return _intake_page(
            request,
            patient,
            values,
            refused=exc,
            high_frequent=high_frequent,
            status_code=422,
        )
    return RedirectResponse(f"/screenings/{made.id}", status_code=303)


@router.get("/screenings/{screening_id}", response_class=HTMLResponse, include_in_schema=False)
def verdict_page(request: Request, screening_id: RecordId, db: DbDep, principal: ViewPage) -> Response:
    """The verdict with every reason, source and grade; tests, prerequisites, evidence; sign."""
    return _verdict(request, db, principal.actor, screening_id)


def _verdict(
    request: Request,
    db: Database,
    actor: Actor,
    screening_id: int,
    stale: StaleVersionError | None = None,
) -> Response:
    record = screening.get_screening(db, actor, screening_id)
    patient = registry.view_patient(db, actor, record.patient_id)
    return render(
        request,
        "screening/verdict.html",
        record=record,
        result=record.result,
        patient=patient,
        stale=stale_notes(stale) if stale else None,
        field_words=INTAKE_WORDS,
        status_code=409 if stale else 200,
    )


@router.get("/screenings/{screening_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_page(request: Request, screening_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Edit a draft's intake (a signed screening is locked)."""
    record = screening.get_screening(db, principal.actor, screening_id)
    if record.status != screening.DRAFT:
        raise ConflictError(f"screening {screening_id} is signed and locked: start a new screening")
    patient = registry.view_patient(db, principal.actor, record.patient_id)
    return _intake_page(request, patient, record.intake, editing=record.id, version=record.version)


@router.post("/screenings/{screening_id}/edit", response_class=HTMLResponse, include_in_schema=False)
async def edit_submit(request: Request, screening_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Save a draft's intake and re-evaluate."""
    form = await request.form()
    values = intake_from_form(form)
    high_frequent = form.get("planned_high_frequent_dosing") == "yes"
    try:
        screening.update_screening(
            db,
            principal.actor,
            screening_id,
            validated(
                screening.ScreeningUpdate,
                {
                    "intake": values,
                    "planned_high_frequent_dosing": high_frequent,
                    "version": blank(form.get("version")),
                },
            ),
        )
    except (ValidationError, InputError, StaleVersionError) as exc:
        # A stale draft comes back with the typed intake and the stored values beside the fields changed
        # since; the form then carries the current version, so saving again is deliberate.
        record = screening.get_screening(db, principal.actor, screening_id)
        patient = registry.view_patient(db, principal.actor, record.patient_id)
        stale = isinstance(exc, StaleVersionError)
        return _intake_page(
            request,
            patient,
            values,
            refused=None if stale else exc,
            editing=screening_id,
            version=record.version if stale else blank(form.get("version")),
            stale=stale_notes(exc) if isinstance(exc, StaleVersionError) else None,
            high_frequent=high_frequent,
            status_code=http_status(exc),
        )
    return RedirectResponse(f"/screenings/{screening_id}", status_code=303)


@router.post("/screenings/{screening_id}/sign", response_class=HTMLResponse, include_in_schema=False)
async def sign_submit(request: Request, screening_id: RecordId, db: DbDep, principal: SignPage) -> Response:
    """Sign from the verdict page; a draft changed since it was opened comes back to be read again."""
    form = await request.form()
    try:
        screening.sign_screening(
            db, principal.actor, screening_id, screening.SignIn(version=version_of(form))
        )
    except StaleVersionError as exc:
        return _verdict(request, db, principal.actor, screening_id, stale=exc)
    return RedirectResponse(f"/screenings/{screening_id}", status_code=303)


@router.post("/screenings/{screening_id}/addenda", response_class=HTMLResponse, include_in_schema=False)
async def addendum_submit(
    request: Request, screening_id: RecordId, db: DbDep, principal: EditPage
) -> Response:
    """Add a note to a signed screening."""
    form = await request.form()
    screening.add_addendum(
        db,
        principal.actor,
        screening_id,
        validated(screening.AddendumIn, {"text": text(form, "text")}),
    )
    return RedirectResponse(f"/screenings/{screening_id}", status_code=303)
