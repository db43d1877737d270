"""FHIR R4 resources of the drug given: the ketamine Medication, the plan's request, each administration."""

from __future__ import annotations

from typing import Any

from ketaclinic.interop.codes import ketamine_codings, ketamine_display
from ketaclinic.interop.fhir_base import KETAMINE_ID, Resource, quantity, reference

# The pump's side of a rate, which R4's dosage has no element for (docs/interoperability.md).
EXT_PUMP_CONCENTRATION = "urn:ketaclinic:fhir:pump-concentration"
EXT_PUMP_RATE = "urn:ketaclinic:fhir:pump-rate"


def medication() -> Resource:
    """The ketamine product every administration and plan points at."""
    code: dict[str, Any] = {"text": ketamine_display()}
    codings = ketamine_codings()
    if codings:
        code["coding"] = codings
    return {"resourceType": "Medication", "id": KETAMINE_ID, "code": code}


def medication_request(
    resource_id: str,
    *,
    patient_id: str,
    status: str,
    authored_on: str | None,
    protocol_id: str,
    session_count: int,
    series_total_mg: float,
    concentration_mg_ml: float,
    dosing_weight_kg: float,
    requester: str | None,
) -> Resource:
    """A MedicationRequest for an approved dose plan (the series as planned)."""
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "id": resource_id,
        "status": {"approved": "active", "cancelled": "cancelled", "completed": "completed"}.get(
            status, "draft"
        ),
        "intent": "plan",
        "medicationReference": reference("Medication", KETAMINE_ID),
        "subject": reference("Patient", patient_id),
        "dosageInstruction": [
            {
                "text": (
                    f"protocol {protocol_id}: {session_count} sessions, {series_total_mg:g} mg in all, "
                    f"{concentration_mg_ml:g} mg/mL, dosing weight {dosing_weight_kg:g} kg"
                ),
                "route": {"text": "intravenous"},
            }
        ],
        "dispenseRequest": {"quantity": quantity(round(series_total_mg, 3), "mg")},
        "note": [{"text": f"dosing weight {dosing_weight_kg:g} kg"}],
    }
    if authored_on is not None:
        resource["authoredOn"] = authored_on
    if requester:
        resource["requester"] = {"display": requester}
    return resource


def rate_administration(
    resource_id: str,
    *,
    patient_id: str,
    encounter_id: str,
    request_id: str,
    start: str,
    end: str | None,
    rate_mg_h: float,
    pump_ml_h: float,
    concentration_mg_ml: float,
    in_progress: bool,
) -> Resource:
    """A MedicationAdministration for one charted rate segment (rate in UCUM mg/h, the pump's too)."""
    period = {"start": start} | ({"end": end} if end is not None else {})
    return {
        "resourceType": "MedicationAdministration",
        "id": resource_id,
        "status": "in-progress" if in_progress else "completed",
        "medicationReference": reference("Medication", KETAMINE_ID),
        "subject": reference("Patient", patient_id),
        "context": reference("Encounter", encounter_id),
        "request": reference("MedicationRequest", request_id),
        "effectivePeriod": period,
        "dosage": {
            "route": {"text": "intravenous"},
            "method": {"text": "continuous infusion"},
            "rateQuantity": quantity(rate_mg_h, "mg/h"),
            "extension": [
                {"url": EXT_PUMP_CONCENTRATION, "valueQuantity": quantity(concentration_mg_ml, "mg/mL")},
                {"url": EXT_PUMP_RATE, "valueQuantity": quantity(pump_ml_h, "mL/h")},
            ],
        },
    }


def dose_administration(
    resource_id: str,
    *,
    patient_id: str,
    encounter_id: str,
    request_id: str | None,
    given_at: str,
    medication_name: str,
    dose: float,
    unit: str,
    route: str,
    purpose: str,
) -> Resource:
    """A MedicationAdministration for a bolus or a dose given in the session (premedication, rescue)."""
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": resource_id,
        "status": "completed",
        "subject": reference("Patient", patient_id),
        "context": reference("Encounter", encounter_id),
        "effectiveDateTime": given_at,
        "category": {"text": purpose},
        "dosage": {"route": {"text": route}, "dose": quantity(dose, unit)},
    }
    if medication_name == KETAMINE_ID:
        resource["medicationReference"] = reference("Medication", KETAMINE_ID)
        if request_id is not None:
            resource["request"] = reference("MedicationRequest", request_id)
    else:
        resource["medicationCodeableConcept"] = {"text": medication_name}
    return resource
