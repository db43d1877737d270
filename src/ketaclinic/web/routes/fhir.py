"""FHIR R4 API: a patient's $everything as a Bundle."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ketaclinic.services.interop.fhir_export import patient_everything
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires
from ketaclinic.web.params import RecordId

router = APIRouter()
ViewApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW))]
TAG: list[str | Enum] = ["fhir"]
FHIR_JSON = "application/fhir+json"


@router.get("/api/v1/fhir/Patient/{patient_id}/$everything", tags=TAG, response_class=JSONResponse)
def api_patient_everything(
    patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: ViewApi
) -> JSONResponse:
    """Everything on record for one patient as a FHIR R4 searchset Bundle (the read is audited)."""
    bundle = patient_everything(db, principal.actor, patient_id, secret=settings.secret_key)
    return JSONResponse(bundle, media_type=FHIR_JSON)
