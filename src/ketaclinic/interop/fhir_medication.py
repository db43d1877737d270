"""FHIR R4 resources of the drug given: the ketamine Medication, the plan's request, each administration."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ketaclinic.interop.codes import drug_codings, ketamine_codings, ketamine_display, systems
from ketaclinic.interop.fhir_base import KETAMINE_ID, Resource, quantity, reference

# The pump's side of a rate, which R4's dosage has no element for (docs/interoperability.md).
EXT_PUMP_CONCENTRATION = "urn:ketaclinic:fhir:pump-concentration"
EXT_PUMP_RATE = "urn:ketaclinic:fhir:pump-rate"
# The ledger's reconciliation of a preparation, which MedicationDispense has no element for.
EXT_LEDGER_ADMINISTERED = "urn:ketaclinic:fhir:ledger-administered"
EXT_LEDGER_WASTED = "urn:ketaclinic:fhir:ledger-wasted"
EXT_LEDGER_DISCREPANCY = "urn:ketaclinic:fhir:ledger-discrepancy"
EXT_LEDGER_STATE = "urn:ketaclinic:fhir:ledger-reconciliation"
# HL7's performer functions of a dispense: who made it up and who checked it.
PERFORMER_FUNCTION = "http://terminology.hl7.org/CodeSystem/medicationdispense-performer-function"
# A FHIR id: letters, digits, '-' and '.', at most 64 characters.
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# How a ledger form reads in FHIR's Medication.form.
FORM_TEXT = {"injection_solution": "solution for injection"}


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
    medication_id: str = KETAMINE_ID,
) -> Resource:
    """A MedicationAdministration for one charted rate segment (rate in UCUM mg/h, the pump's too); the
    Medication is the bag's lot where the ledger prepared it, else the ketamine product."""
    period = {"start": start} | ({"end": end} if end is not None else {})
    return {
        "resourceType": "MedicationAdministration",
        "id": resource_id,
        "status": "in-progress" if in_progress else "completed",
        "medicationReference": reference("Medication", medication_id),
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
    medication_id: str | None = None,
) -> Resource:
    """A MedicationAdministration for a bolus or a dose given in the session (premedication, rescue); a
    dose the ledger dispensed points at its lot's Medication."""
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
    if medication_id is not None:
        resource["medicationReference"] = reference("Medication", medication_id)
    elif medication_name == KETAMINE_ID:
        resource["medicationReference"] = reference("Medication", KETAMINE_ID)
    else:
        resource["medicationCodeableConcept"] = {"text": medication_name}
    if medication_name == KETAMINE_ID and request_id is not None:
        resource["request"] = reference("MedicationRequest", request_id)
    return resource


@dataclass(frozen=True, slots=True)
class Lot:
    """One product lot as the ledger knows it: drug, form, strength, container volume, NDC, lot, expiry."""

    product_id: int
    drug: str
    form: str
    strength_mg_ml: float
    container_ml: float
    ndc: str
    lot: str
    expiry: str


def lot_medication_id(product_id: int, lot: str, owner: str | None = None) -> str:
    """The Medication id of a product's lot (`owner`: the patient whose copy it is, in de-identified files).

    >>> lot_medication_id(1, "K24A")
    'lot-1-K24A'
    """
    candidate = f"lot-{product_id}-{lot}" + (f"-{owner}" if owner else "")
    if _FHIR_ID.match(candidate):
        return candidate
    # A lot with characters an id cannot hold (or too long): a digest keeps it unique and stable.
    digest = hashlib.sha256(f"{product_id}\n{lot}\n{owner or ''}".encode()).hexdigest()[:24]
    return f"lot-{product_id}-x{digest}"


def _ndc_coding(ndc: str) -> list[dict[str, str]]:
    """The NDC as HL7's NDC system writes it: the 10-digit form with its hyphens (not the 11-digit one)."""
    digits = ndc.replace("-", "")
    return [{"system": systems().ndc, "code": ndc}] if len(digits) == 10 else []


def lot_medication(resource_id: str, lot: Lot) -> Resource:
    """A Medication for one product lot: the drug's code, its NDC, form, strength, vial and batch."""
    codings = drug_codings(lot.drug) + _ndc_coding(lot.ndc)
    code: dict[str, Any] = {"text": lot.drug}
    if codings:
        code["coding"] = codings
    ingredient: dict[str, Any] = {"itemCodeableConcept": {"text": lot.drug}, "isActive": True}
    drug_codes = drug_codings(lot.drug)
    if drug_codes:
        ingredient["itemCodeableConcept"]["coding"] = drug_codes
    ingredient["strength"] = {
        "numerator": quantity(lot.strength_mg_ml, "mg"),
        "denominator": quantity(1.0, "mL"),
    }
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "code": code,
        "status": "active",
        "form": {"text": FORM_TEXT.get(lot.form, lot.form.replace("_", " "))},
        "amount": {
            "numerator": quantity(lot.container_ml, "mL"),
            "denominator": {"value": 1, "unit": "vial"},
        },
        "ingredient": [ingredient],
        "batch": {"lotNumber": lot.lot, "expirationDate": lot.expiry},
    }


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What the ledger booked for a preparation: given (from the chart), wasted, unaccounted for."""

    administered_mg: float
    wasted_mg: float
    discrepancy_mg: float
    state: str


def preparation_dispense(
    resource_id: str,
    *,
    patient_id: str,
    encounter_id: str,
    medication_id: str,
    request_id: str | None,
    purpose: str,
    prepared_mg: float,
    drawn_ml: float,
    final_volume_ml: float,
    concentration_mg_ml: float,
    diluent: str | None,
    route: str,
    prepared_at: str,
    reconciled: Reconciled | None,
    prepared_by: str | None,
    checked_by: str | None,
    waste_note: str | None,
) -> Resource:
    """A MedicationDispense for a preparation issued from the clinic's stock to the patient (R4's scope
    includes "issuing a single dose from ward stock"); the ledger's reconciliation as extensions, a note."""
    made_up = (
        f"{drawn_ml:g} mL drawn ({prepared_mg:g} mg)"
        + (
            ""
            if diluent == "none"
            else f", diluted to {final_volume_ml:g} mL"
            if diluent is None
            else f", diluted with {diluent} to {final_volume_ml:g} mL"
        )
        + f" at {concentration_mg_ml:g} mg/mL"
    )
    resource: Resource = {
        "resourceType": "MedicationDispense",
        "id": resource_id,
        "status": "completed",
        "category": {"text": purpose},
        "medicationReference": reference("Medication", medication_id),
        "subject": reference("Patient", patient_id),
        "context": reference("Encounter", encounter_id),
        "quantity": quantity(round(prepared_mg, 3), "mg"),
        "whenPrepared": prepared_at,
        "dosageInstruction": [{"text": made_up, "route": {"text": route}}],
    }
    if request_id is not None:
        resource["authorizingPrescription"] = [reference("MedicationRequest", request_id)]
    performers = [
        {"function": {"coding": [{"system": PERFORMER_FUNCTION, "code": code}]}, "actor": {"display": name}}
        for code, name in (("packager", prepared_by), ("checker", checked_by))
        if name
    ]
    if performers:
        resource["performer"] = performers
    notes = [made_up]
    if reconciled is not None:
        resource["extension"] = [
            {
                "url": EXT_LEDGER_ADMINISTERED,
                "valueQuantity": quantity(round(reconciled.administered_mg, 3), "mg"),
            },
            {"url": EXT_LEDGER_WASTED, "valueQuantity": quantity(round(reconciled.wasted_mg, 3), "mg")},
            {
                "url": EXT_LEDGER_DISCREPANCY,
                "valueQuantity": quantity(round(reconciled.discrepancy_mg, 3), "mg"),
            },
            {"url": EXT_LEDGER_STATE, "valueString": reconciled.state},
        ]
        notes.append(
            f"administered {reconciled.administered_mg:g} mg (from the chart), wasted"
            f" {reconciled.wasted_mg:g} mg, unaccounted for {reconciled.discrepancy_mg:g} mg:"
            f" {reconciled.state}"
        )
    if waste_note:
        notes.append(waste_note)
    resource["note"] = [{"text": "; ".join(notes)}]
    return resource
