"""The registry's allergies, contact details and referring physician: JSON API and the record page's forms."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, NotFoundError, StaleVersionError, http_status
from ketaclinic.services.patients import allergies, contact, records, registry
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.forms import error_lines, form_errors, stale_notes
from ketaclinic.web.params import RecordId
from ketaclinic.web.registry_forms import STORED_FIELD, WORDS, contact_from_form, typed
from ketaclinic.web.routes.patients import _treatment

router = APIRouter()
EditApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_EDIT))]
EditPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_EDIT, page=True))]
TAG: list[str | Enum] = ["patients"]

# --- API -------------------------------------------------------------------------------------------


@router.post(
    "/api/v1/patients/{patient_id}/allergies", status_code=201, response_model=records.PatientOut, tags=TAG
)
def api_add_allergy(
    patient_id: RecordId, body: allergies.AllergyIn, db: DbDep, principal: EditApi
) -> records.PatientOut:
    """Record an allergy (substance, reaction, severity); clears a "no known allergies" answer."""
    return allergies.add_allergy(db, principal.actor, patient_id, body)


@router.post(
    "/api/v1/patients/{patient_id}/allergies/{allergy_id}/strike-out",
    response_model=records.PatientOut,
    tags=TAG,
)
def api_strike_out_allergy(
    patient_id: RecordId,
    allergy_id: RecordId,
    body: allergies.AllergyStrikeOutIn,
    db: DbDep,
    principal: EditApi,
) -> records.PatientOut:
    """Strike out an allergy entered in error (kept and audited with the reason)."""
    return allergies.strike_out_allergy(db, principal.actor, patient_id, allergy_id, body)


@router.post(
    "/api/v1/patients/{patient_id}/allergies/none-known", response_model=records.PatientOut, tags=TAG
)
def api_no_known_allergies(
    patient_id: RecordId, body: allergies.NoKnownAllergiesIn, db: DbDep, principal: EditApi
) -> records.PatientOut:
    """Record that the patient has no known allergies (409 while an allergy is on record)."""
    return allergies.record_no_known_allergies(db, principal.actor, patient_id, body)


@router.put("/api/v1/patients/{patient_id}/contact", response_model=records.PatientOut, tags=TAG)
def api_set_contact(
    patient_id: RecordId, body: contact.ContactIn, db: DbDep, principal: EditApi
) -> records.PatientOut:
    """Replace the patient's contact details (e-mail, phone, address, channel, consent to be contacted)."""
    return contact.set_contact(db, principal.actor, patient_id, body)


@router.put("/api/v1/patients/{patient_id}/referrer", response_model=records.PatientOut, tags=TAG)
def api_set_referrer(
    patient_id: RecordId, body: contact.ReferrerIn, db: DbDep, principal: EditApi
) -> records.PatientOut:
    """Record or replace the referring physician (name, identifier, address or e-mail)."""
    return contact.set_referrer(db, principal.actor, patient_id, body)


# --- the record page's forms -----------------------------------------------------------------------


def _answer(
    request: Request,
    db: DbDep,
    principal: Principal,
    patient_id: int,
    form_name: str,
    values: dict[str, Any],
    run: Callable[[], object],
) -> Response:
    """Run the service; on a refusal show the record again with that form's problems and what was typed."""
    try:
        run()
    except (ValidationError, InputError, ConflictError, NotFoundError) as exc:
        patient = registry.view_patient(db, principal.actor, patient_id)
        stale = isinstance(exc, StaleVersionError)
        notes = stale_notes(exc) if isinstance(exc, StaleVersionError) else {}  # narrows the type for mypy
        return render(
            request,
            "patients/detail.html",
            patient=patient,
            errors={},
            registry_form=form_name,
            registry_values=values,
            registry_errors=form_errors(exc, top_level=True, words=WORDS),
            # A stale form: the banner and a note beside each input changed since, not a list of columns.
            registry_lines=[] if stale else error_lines(exc, WORDS),
            registry_was_stale=stale,
            registry_stale={
                name: notes[stored]
                for name, stored in STORED_FIELD.get(form_name, {}).items()
                if stored in notes
            },
            **_treatment(db, principal, patient_id),
            status_code=http_status(exc),
        )
    return RedirectResponse(f"/patients/{patient_id}#registry", status_code=303)


@router.post("/patients/{patient_id}/allergies", response_class=HTMLResponse, include_in_schema=False)
async def allergy_submit(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Add an allergy from the record page."""
    values = typed(await request.form(), "version", "substance", "substance_code", "reaction", "severity")
    return _answer(
        request,
        db,
        principal,
        patient_id,
        "allergy",
        values,
        lambda: allergies.add_allergy(
            db, principal.actor, patient_id, allergies.AllergyIn.model_validate(values)
        ),
    )


@router.post(
    "/patients/{patient_id}/allergies/{allergy_id}/strike-out",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def allergy_strike_submit(
    request: Request, patient_id: RecordId, allergy_id: RecordId, db: DbDep, principal: EditPage
) -> Response:
    """Strike out an allergy entered in error from the record page."""
    values = typed(await request.form(), "version", "reason")
    return _answer(
        request,
        db,
        principal,
        patient_id,
        f"strike-{allergy_id}",
        values,
        lambda: allergies.strike_out_allergy(
            db, principal.actor, patient_id, allergy_id, allergies.AllergyStrikeOutIn.model_validate(values)
        ),
    )


@router.post(
    "/patients/{patient_id}/allergies/none-known", response_class=HTMLResponse, include_in_schema=False
)
async def none_known_submit(
    request: Request, patient_id: RecordId, db: DbDep, principal: EditPage
) -> Response:
    """Record "no known allergies" from the record page."""
    values = typed(await request.form(), "version")
    return _answer(
        request,
        db,
        principal,
        patient_id,
        "none-known",
        values,
        lambda: allergies.record_no_known_allergies(
            db, principal.actor, patient_id, allergies.NoKnownAllergiesIn.model_validate(values)
        ),
    )


@router.post("/patients/{patient_id}/contact", response_class=HTMLResponse, include_in_schema=False)
async def contact_submit(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Save the contact details from the record page."""
    values = contact_from_form(await request.form())
    return _answer(
        request,
        db,
        principal,
        patient_id,
        "contact",
        values,
        lambda: contact.set_contact(
            db, principal.actor, patient_id, contact.ContactIn.model_validate(values)
        ),
    )


@router.post("/patients/{patient_id}/referrer", response_class=HTMLResponse, include_in_schema=False)
async def referrer_submit(request: Request, patient_id: RecordId, db: DbDep, principal: EditPage) -> Response:
    """Save the referring physician from the record page."""
    values = typed(await request.form(), "version", "name", "identifier", "address", "email", "reason")
    return _answer(
        request,
        db,
        principal,
        patient_id,
        "referrer",
        values,
        lambda: contact.set_referrer(
            db, principal.actor, patient_id, contact.ReferrerIn.model_validate(values)
        ),
    )
