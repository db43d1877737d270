"""The clinic's reference over the API: the drug library, the protocols and the dose check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.dosing import DoseQuantity, RateQuantity, check_dose, parse_dose, parse_rate
from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.errors import InputError
from ketaclinic.services.permissions import Permission
from ketaclinic.services.reference import clinic_library
from ketaclinic.web.deps import ClinicLibraryDep, Principal, SettingsDep, requires

router = APIRouter()

ReferenceApi = Annotated[Principal, Depends(requires(Permission.REFERENCE_VIEW))]


@router.get("/api/v1/library", tags=["dosing"])
def api_library(library: ClinicLibraryDep, principal: ReferenceApi) -> dict[str, Any]:
    """The drug library in force (clinic override applied), every limit with its source and status."""
    return library.to_json_dict()


@router.get("/api/v1/protocols", tags=["dosing"])
def api_protocols(settings: SettingsDep, principal: ReferenceApi) -> list[dict[str, Any]]:
    """Every protocol (shipped and the clinic's)."""
    return [p.to_json_dict() for p in clinic_library(settings).protocols.values()]


@router.get("/api/v1/protocols/{protocol_id}", tags=["dosing"])
def api_protocol(protocol_id: str, settings: SettingsDep, principal: ReferenceApi) -> dict[str, Any]:
    """One protocol."""
    return clinic_library(settings).protocol(protocol_id).to_json_dict()


class DoseCheckIn(BaseModel):
    """A rate ("0.5 mg/kg/h", "35 mg/h", "35 mL/h") or a bolus (bolus_mg, or "0.3 mg/kg"), weight, context."""

    model_config = ConfigDict(extra="forbid")
    context: str = Field(min_length=1, max_length=64)
    weight_kg: float = Field(ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    rate: str | None = Field(default=None, max_length=40)
    bolus_mg: float | None = Field(default=None, ge=0, le=10_000)
    bolus: str | None = Field(default=None, max_length=40)
    concentration_mg_ml: float | None = Field(default=None, gt=0, le=100)
    kind: Literal["rate", "bolus"] = "rate"


@router.post("/api/v1/dose/check", tags=["dosing"])
def api_dose_check(body: DoseCheckIn, library: ClinicLibraryDep, principal: ReferenceApi) -> dict[str, Any]:
    """The library's verdict on a rate or bolus: ok, soft or hard, with the deciding limit and its source."""
    dose: RateQuantity | DoseQuantity
    if body.kind == "bolus":
        if (body.bolus_mg is None) == (body.bolus is None):
            raise InputError("give one of bolus_mg or bolus (e.g. '0.3 mg/kg')", field="bolus_mg")
        dose = (
            DoseQuantity(body.bolus_mg, "mg")
            if body.bolus_mg is not None
            else parse_dose(body.bolus or "", field="bolus")
        )
    elif body.rate is None:
        raise InputError("give rate, e.g. '0.5 mg/kg/h' or '35 mg/h'", field="rate")
    else:
        dose = parse_rate(body.rate)
    return check_dose(
        library,
        body.context,
        dose=dose,
        weight_kg=body.weight_kg,
        concentration_mg_ml=body.concentration_mg_ml,
    ).to_json_dict()
