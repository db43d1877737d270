"""Patient registry: JSON API and screens (list with search, record, register and edit forms)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, StaleVersionError, http_status
from ketaclinic.inputs import MAX_RECORD_ID
from ketaclinic.screening.diagnoses import PainMechanism, PriorTreatmentOutcome, list_diagnoses
from ketaclinic.services.outcomes import course_view, courses
from ketaclinic.services.patients import measurements, records, registry
from ketaclinic.services.permissions import Permission
from ketaclinic.services.plans.records import list_plans
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import (
    FieldWords,
    blank,
    chosen,
    error_lines,
    form_errors,
    prior_treatments,
    stale_notes,
    text,
)
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId

router = APIRouter()
NAV = [
    NavItem("Patients", "/patients", Permission.PATIENTS_VIEW, order=10),
    NavItem("Patients", "/patients", Permission.PATIENTS_VIEW_DEIDENTIFIED, order=10),
]

ANY_PATIENT_VIEW = (Permission.PATIENTS_VIEW, Permission.PATIENTS_VIEW_DEIDENTIFIED)
ListApi = Annotated[Principal, Depends(requires(ANY_PATIENT_VIEW))]
ListPage = Annotated[Principal, Depends(requires(ANY_PATIENT_VIEW, page=True))]
ViewApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW))]
EditApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_EDIT))]
ViewPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW, page=True))]
EditPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_EDIT, page=True))]
ReferenceApi = Annotated[Principal, Depends(requires(Permission.REFERENCE_VIEW))]

# How the registration and edit form names its fields to people, with the unit a bound's message names.
PATIENT_WORDS: FieldWords = {
    "mrn": ("MRN", ""),
    "family_name": ("Family name", ""),
    "given_name": ("Given name", ""),
    "birth_date": ("Date of birth", ""),
    "sex": ("Sex", ""),
    "weight_kg": ("Weight", "kg"),
    "weight_confirm_reason": ("Reason the weight is right", ""),
    "height_cm": ("Height", "cm"),
    "diagnoses": ("Diagnoses", ""),
    "pain_mechanism": ("Pain mechanism", ""),
    "pain_duration_months": ("Pain duration", "months"),
    "prior_treatments": ("Prior treatments", ""),
    "notes": ("Notes", ""),
    "reason": ("Reason for this change", ""),
}


class PatientPage(BaseModel):
    """One page of search results."""

    total: int
    items: list[records.PatientOut] | list[records.PatientDeidentified]


@router.get("/api/v1/patients", response_model=PatientPage, tags=["patients"])
def api_list(
    db: DbDep,
    principal: ListApi,
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_RECORD_ID)] = 0,
) -> PatientPage:
    """Search patients (researchers get de-identified rows)."""
    items, total = registry.list_patients(db, principal.actor, query=q, limit=limit, offset=offset)
    return PatientPage(total=total, items=items)


@router.post("/api/v1/patients", status_code=201, response_model=records.PatientOut, tags=["patients"])
def api_create(
    body: registry.PatientCreate, db: DbDep, principal: EditApi, settings: SettingsDep
) -> records.PatientOut:
    """Register a patient (a weight implausible for the age needs weight_confirm_reason)."""
    return registry.register_patient(db, principal.actor, body, config=settings)


@router.get("/api/v1/patients/{patient_id}", response_model=records.PatientOut, tags=["patients"])
def api_get(patient_id: RecordId, db: DbDep, principal: ViewApi) -> records.PatientOut:
    """One patient's record (the view is audited)."""
    return registry.view_patient(db, principal.actor, patient_id)


@router.patch("/api/v1/patients/{patient_id}", response_model=records.PatientOut, tags=["patients"])
def api_update(
    patient_id: RecordId, body: registry.PatientUpdate, db: DbDep, principal: EditApi
) -> records.PatientOut:
    """Edit a patient's record (reason required)."""
    return registry.update_patient(db, principal.actor, patient_id, body)


@router.post(
    "/api/v1/patients/{patient_id}/measurements",
    status_code=201,
    response_model=records.PatientOut,
    tags=["patients"],
)
def api_measure(
    patient_id: RecordId,
    body: measurements.MeasurementIn,
    db: DbDep,
    principal: EditApi,
    settings: SettingsDep,
) -> records.PatientOut:
    """Record a dated weight and/or height (a doubtful weight needs confirm_reason)."""
    return measurements.add_measurement(db, principal.actor, patient_id, body, config=settings)


@router.post(
    "/api/v1/patients/{patient_id}/measurements/{measurement_id}/strike-out",
    response_model=records.PatientOut,
    tags=["patients"],
)
def api_strike_out(
    patient_id: RecordId,
    measurement_id: RecordId,
    body: measurements.StrikeOutIn,
    db: DbDep,
    principal: EditApi,
) -> records.PatientOut:
    """Strike out a measurement entered in error (kept, audited); the one before is on record again."""
    return measurements.strike_out_measurement(db, principal.actor, patient_id, measurement_id, body)


@router.get("/api/v1/diagnoses", tags=["patients"])
def api_diagnoses(principal: ReferenceApi) -> list[dict[str, Any]]:
    """The shipped diagnosis code list with sources."""
    return [
        {
            "code": d.code,
            "label": d.label,
            "group": d.group,
            "snomed": d.snomed,
            "source": d.source,
            "status": d.status,
        }
        for d in list_diagnoses()
    ]


# --- screens ---------------------------------------------------------------------------------------


def _form_choices() -> dict[str, Any]:
    return {
        "diagnosis_choices": list_diagnoses(),
        "mechanisms": [m.value for m in PainMechanism],
        "outcomes": [o.value for o in PriorTreatmentOutcome],
        "sexes": ["female", "male", "other", "unknown"],
    }


def _form_values(form: FormData) -> dict[str, Any]:
    """Turn the HTML form into the service's input shape (blank fields are absent)."""
    values: dict[str, Any] = {
        key: blank(form.get(key))
        for key in (
            "mrn",
            "family_name",
            "given_name",
            "birth_date",
            "sex",
            "weight_kg",
            "weight_confirm_reason",
            "height_cm",
            "pain_mechanism",
            "pain_duration_months",
            "notes",
            "reason",
            "version",
        )
    }
    values["diagnoses"] = chosen(form, "diagnoses")
    values["prior_treatments"] = prior_treatments(form)
    return {k: v for k, v in values.items() if v is not None}


@router.get("/patients", response_class=HTMLResponse, include_in_schema=False)
def list_page(
    request: Request, db: DbDep, principal: ListPage, q: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """Patient list with search; the rows alone when asked by htmx."""
    items, total = registry.list_patients(db, principal.actor, query=q, limit=100)
    template = "patients/_rows.html" if request.headers.get("hx-request") else "patients/list.html"
    return render(request, template, items=items, total=total, q=q)


@router.get("/patients/new", response_class=HTMLResponse, include_in_schema=False)
def new_page(request: Request, principal: EditPage) -> Response:
    """The registration form."""
    return render(
        request,
        "patients/form.html",
        values={},
        errors={},
        editing=None,
        **_form_choices(),
    )


@router.post("/patients/new", response_class=HTMLResponse, include_in_schema=False)
async def new_submit(request: Request, db: DbDep, principal: EditPage, settings: SettingsDep) -> Response:
    """Register from the form; errors come back next to their fields."""
    values = _form_values(await request.form())
    values.pop("reason", None)
    values.pop("version", None)
    try:
        created = registry.register_patient(
            db, principal.actor, registry.PatientCreate.model_validate(values), config=settings
        )
    except (ValidationError, InputError, ConflictError) as exc:
        return render(
            request,
            "patients/form.html",
            values=values,
            errors=form_errors(exc, top_level=True, words=PATIENT_WORDS),
            problems=error_lines(exc, PATIENT_WORDS),
            # a weight within bounds but doubtful for the age may be confirmed with a reason
            confirm_weight=isinstance(exc, ConflictError) and exc.field == "weight_kg",
            editing=None,
            **_form_choices(),
            status_code=http_status(exc),
        )
    return RedirectResponse(f"/patients/{created.id}", status_code=303)


@router.get("/patients/{patient_id}", response_class=HTMLResponse, include_in_schema=False)
def detail_page(request: Request, patient_id: RecordId, db: DbDep, principal: ViewPage) -> Response:
    """A patient's record (the view is audited)."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    return render(
        request, "patients/detail.html", patient=patient, errors={}, **_treatment(db, principal, patient_id)
    )


def _treatment(db: DbDep, principal: Principal, patient_id: int) -> dict[str, Any]:
    """The patient's dose plans and treatment courses, for the record page (clinical roles only)."""
    treatment: dict[str, Any] = {"plans": [], "courses": []}
    if principal.can(Permission.PLANS_VIEW):
        treatment["plans"] = list_plans(db, principal.actor, patient_id=patient_id)
    if principal.can(Permission.OUTCOMES_RECORD):
        treatment |= {
            "courses": course_view.patient_course_views(db, principal.actor, patient_id),
            "policy": courses.schedule_policy(),
            "today": date.today(),
            "latest": date.today() + timedelta(days=1),
        }
    return treatment


@router.get("/patients/{patient_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_page(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """The edit form, filled."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    values = patient.model_dump(mode="json")
    values["diagnoses"] = [d["code"] for d in values["diagnoses"]]
    return render(
        request,
        "patients/form.html",
        values=values,
        errors={},
        editing=patient,
        stale={},
        **_form_choices(),
    )


@router.post("/patients/{patient_id}/edit", response_class=HTMLResponse, include_in_schema=False)
async def edit_submit(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Save an edit with its reason."""
    values = _form_values(await request.form())
    for identity_only in ("mrn", "weight_kg", "weight_confirm_reason", "height_cm"):
        values.pop(identity_only, None)
    values.setdefault("diagnoses", [])
    values.setdefault("prior_treatments", [])
    try:
        registry.update_patient(
            db, principal.actor, patient_id, registry.PatientUpdate.model_validate(values)
        )
    except StaleVersionError as exc:
        # Nothing was saved: the typed values come back, the stored ones beside the fields changed since,
        # and the form now carries the current version, so saving again is a deliberate choice.
        patient = registry.view_patient(db, principal.actor, patient_id)
        return render(
            request,
            "patients/form.html",
            values={**values, "version": patient.version},
            errors={},
            editing=patient,
            stale=stale_notes(exc),
            **_form_choices(),
            status_code=http_status(exc),
        )
    except (ValidationError, InputError) as exc:
        patient = registry.view_patient(db, principal.actor, patient_id)
        return render(
            request,
            "patients/form.html",
            values=values,
            errors=form_errors(exc, top_level=True, words=PATIENT_WORDS),
            problems=error_lines(exc, PATIENT_WORDS),
            editing=patient,
            stale={},
            **_form_choices(),
            status_code=422,
        )
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


def _record_with_errors(
    request: Request,
    db: DbDep,
    principal: Principal,
    patient_id: int,
    exc: Exception,
    values: dict[str, Any],
) -> Response:
    """The record page again with the measurement form's problems and typed values."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    return render(
        request,
        "patients/detail.html",
        patient=patient,
        errors=form_errors(exc, top_level=True),
        measurement_values=values,
        **_treatment(db, principal, patient_id),
        status_code=http_status(exc),
    )


@router.post("/patients/{patient_id}/measurements", response_class=HTMLResponse, include_in_schema=False)
async def measure_submit(
    request: Request, patient_id: RecordId, db: DbDep, principal: EditPage, settings: SettingsDep
) -> Response:
    """Add a weight/height from the record page."""
    form = await request.form()
    values = {k: blank(form.get(k)) for k in ("measured_on", "weight_kg", "height_cm", "confirm_reason")}
    try:
        measurements.add_measurement(
            db,
            principal.actor,
            patient_id,
            measurements.MeasurementIn.model_validate({k: v for k, v in values.items() if v}),
            config=settings,
        )
    except (ValidationError, InputError, ConflictError) as exc:
        return _record_with_errors(request, db, principal, patient_id, exc, values)
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.post(
    "/patients/{patient_id}/measurements/{measurement_id}/strike-out",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def strike_out_submit(
    request: Request, patient_id: RecordId, measurement_id: RecordId, db: DbDep, principal: EditPage
) -> Response:
    """Strike out a measurement entered in error from the record page."""
    form = await request.form()
    try:
        measurements.strike_out_measurement(
            db,
            principal.actor,
            patient_id,
            measurement_id,
            measurements.StrikeOutIn.model_validate(
                {"reason": text(form, "reason"), "version": blank(form.get("version"))}
            ),
        )
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        return _record_with_errors(request, db, principal, patient_id, exc, {})
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)
