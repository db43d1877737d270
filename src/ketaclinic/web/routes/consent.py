"""Consent: the template, a signed consent to a protocol, its withdrawal; the API and the physician's form."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, http_status
from ketaclinic.screening import current_consent_template
from ketaclinic.screening.consent import REPRESENTATIVE_RELATIONS
from ketaclinic.services.patients import records, registry
from ketaclinic.services.permissions import Permission
from ketaclinic.services.screening import consent
from ketaclinic.settings import Settings
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import error_lines, form_errors, text, validated
from ketaclinic.web.params import RecordId
from ketaclinic.web.screening_forms import CONSENT_WORDS, consent_from_form

router = APIRouter()

ViewApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW))]
ConsentApi = Annotated[Principal, Depends(requires(Permission.CONSENT_RECORD))]
ConsentPage = Annotated[Principal, Depends(requires(Permission.CONSENT_RECORD, page=True))]

TAG: list[str | Enum] = ["screening"]


@router.get("/api/v1/screening/consent-template", tags=TAG)
def api_consent_template(principal: ViewApi) -> dict[str, Any]:
    """The consent template in force: version, text, risks and alternatives with sources."""
    return current_consent_template().model_dump(mode="json")


@router.post(
    "/api/v1/patients/{patient_id}/consents", status_code=201, response_model=consent.ConsentOut, tags=TAG
)
def api_consent(
    patient_id: RecordId, body: consent.ConsentIn, db: DbDep, settings: SettingsDep, principal: ConsentApi
) -> consent.ConsentOut:
    """Record a signed consent to a protocol (shipped or the clinic's)."""
    return consent.record_consent(db, principal.actor, patient_id, body, config=settings)


@router.get("/api/v1/patients/{patient_id}/consents", response_model=list[consent.ConsentOut], tags=TAG)
def api_consents(
    patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: ViewApi
) -> list[consent.ConsentOut]:
    """A patient's consents, newest first."""
    return consent.list_consents(db, principal.actor, patient_id, config=settings)


@router.post("/api/v1/consents/{consent_id}/withdraw", response_model=consent.ConsentOut, tags=TAG)
def api_withdraw(
    consent_id: RecordId, body: consent.WithdrawIn, db: DbDep, settings: SettingsDep, principal: ConsentApi
) -> consent.ConsentOut:
    """Record that the patient withdrew a consent (reason required)."""
    return consent.withdraw_consent(db, principal.actor, consent_id, body, config=settings)


def _consent_page(
    request: Request,
    patient: records.PatientOut,
    values: dict[str, Any],
    *,
    settings: Settings,
    refused: Exception | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "screening/consent.html",
        errors=form_errors(refused, words=CONSENT_WORDS) if refused else {},
        problems=error_lines(refused, CONSENT_WORDS) if refused else [],
        patient=patient,
        consent_template=current_consent_template(),
        protocols=consent.protocol_choices(settings),
        relations=REPRESENTATIVE_RELATIONS,
        values=values,
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/consent/new", response_class=HTMLResponse, include_in_schema=False)
def consent_page(
    request: Request,
    patient_id: RecordId,
    db: DbDep,
    settings: SettingsDep,
    principal: ConsentPage,
    protocol: str = "",
) -> Response:
    """The consent form: template text, risk checkboxes, alternatives, signatures."""
    patient = registry.view_patient(db, principal.actor, patient_id)
    return _consent_page(request, patient, {"protocol_id": protocol, "risks": []}, settings=settings)


@router.post("/patients/{patient_id}/consent/new", response_class=HTMLResponse, include_in_schema=False)
async def consent_submit(
    request: Request, patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: ConsentPage
) -> Response:
    """Record the consent; what is missing comes back named."""
    values = consent_from_form(await request.form())
    try:
        consent.record_consent(
            db, principal.actor, patient_id, consent.ConsentIn.model_validate(values), config=settings
        )
    except (ValidationError, InputError, ConflictError) as exc:
        patient = registry.view_patient(db, principal.actor, patient_id)
        return _consent_page(
            request, patient, values, settings=settings, refused=exc, status_code=http_status(exc)
        )
    return RedirectResponse(f"/patients/{patient_id}/screening", status_code=303)


@router.post("/consents/{consent_id}/withdraw", response_class=HTMLResponse, include_in_schema=False)
async def withdraw_submit(
    request: Request, consent_id: RecordId, db: DbDep, settings: SettingsDep, principal: ConsentPage
) -> Response:
    """Withdraw a consent (reason required)."""
    form = await request.form()
    done = consent.withdraw_consent(
        db,
        principal.actor,
        consent_id,
        validated(consent.WithdrawIn, {"reason": text(form, "reason")}),
        config=settings,
    )
    return RedirectResponse(f"/patients/{done.patient_id}/screening", status_code=303)
