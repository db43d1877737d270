"""FHIR R4 resources of the record (as JSON objects) from plain values: patient, conditions, encounters,
observations, questionnaire answers, adverse events, consents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ketaclinic.interop.codes import body_code, observation_coding, systems
from ketaclinic.interop.fhir_base import KETAMINE_ID, Resource, quantity, reference
from ketaclinic.monitoring.lifecycle import SessionState

# Extensions for what FHIR R4 has no element for; the URIs are the clinic's own (docs/interoperability.md).
EXT_PREDICTED_CP = "urn:ketaclinic:fhir:predicted-cp-at-onset"
EXT_AE_ACTION = "urn:ketaclinic:fhir:adverse-event-action"
EXT_AGE_GROUP = "urn:ketaclinic:fhir:age-group"
EXT_PRO_TIMEPOINT = "urn:ketaclinic:fhir:pro-timepoint"

ENCOUNTER_CLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "AMB",
    "display": "ambulatory",
}
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}
# The flowsheet items FHIR's vital-signs category covers; the others (scales) are surveys.
VITAL_SIGN_KEYS = frozenset({"sbp", "dbp", "hr", "spo2", "rr", "temp_c"})


def patient(
    resource_id: str,
    *,
    identifiers: Sequence[tuple[str, str]],
    sex: str,
    birth_date: str | None,
    family_name: str | None = None,
    given_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    age_group: str | None = None,
) -> Resource:
    """A Patient; a de-identified one is given no name, contact or exact birth date by the caller."""
    resource: Resource = {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": system, "value": value} for system, value in identifiers],
        "gender": sex,
    }
    if family_name is not None and given_name is not None:
        resource["name"] = [{"use": "official", "family": family_name, "given": [given_name]}]
    if birth_date is not None:
        resource["birthDate"] = birth_date
    telecom = [
        {"system": kind, "value": value} for kind, value in (("email", email), ("phone", phone)) if value
    ]
    if telecom:
        resource["telecom"] = telecom
    if address:
        resource["address"] = [{"text": address}]
    if age_group is not None:
        resource["extension"] = [{"url": EXT_AGE_GROUP, "valueString": age_group}]
    return resource


def condition(
    resource_id: str,
    *,
    patient_id: str,
    icd10cm: str,
    label: str,
    snomed: str | None,
    primary: bool,
    recorded_date: str | None,
) -> Resource:
    """A Condition coded in ICD-10-CM, and SNOMED CT where the shipped list has a verified concept."""
    codings = [{"system": systems().icd10cm, "code": icd10cm, "display": label}]
    if snomed:
        codings.append({"system": systems().snomed, "code": snomed})
    resource: Resource = {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item" if primary else "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": codings, "text": label},
        "subject": reference("Patient", patient_id),
    }
    if recorded_date is not None:
        resource["recordedDate"] = recorded_date
    return resource


# How a session's state reads as an Encounter status: the encounter lasts until discharge.
ENCOUNTER_STATUS: dict[str, str] = {
    SessionState.SCHEDULED: "planned",
    SessionState.CHECKED_IN: "arrived",
    SessionState.RUNNING: "in-progress",
    SessionState.PAUSED: "in-progress",
    SessionState.COMPLETED: "in-progress",
    SessionState.STOPPED: "in-progress",
    SessionState.RECOVERY: "in-progress",
    SessionState.DISCHARGED: "finished",
    SessionState.SIGNED: "finished",
}


def encounter(
    resource_id: str,
    *,
    patient_id: str,
    state: str,
    session_number: int,
    start: str | None,
    end: str | None,
) -> Resource:
    """An Encounter for one infusion session (R4's basedOn takes a ServiceRequest: the plan is linked from
    each administration's `request` instead)."""
    resource: Resource = {
        "resourceType": "Encounter",
        "id": resource_id,
        "status": ENCOUNTER_STATUS.get(state, "unknown"),
        "class": ENCOUNTER_CLASS,
        "type": [{"text": f"Ketamine infusion, session {session_number}"}],
        "subject": reference("Patient", patient_id),
    }
    period = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    if period:
        resource["period"] = period
    return resource


def observation(
    resource_id: str,
    *,
    patient_id: str,
    encounter_id: str | None,
    key: str,
    value: float | bool,
    unit: str,
    effective: str,
    interpretation: str | None = None,
) -> Resource:
    """An Observation of one flowsheet item (LOINC where it has a code, the clinic's own code otherwise)."""
    resource: Resource = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [VITAL_SIGNS if key in VITAL_SIGN_KEYS else SURVEY],
        "code": {"coding": observation_coding(key)},
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": effective,
    }
    if encounter_id is not None:
        resource["encounter"] = reference("Encounter", encounter_id)
    if isinstance(value, bool):
        resource["valueBoolean"] = value
    elif unit and not unit.startswith("{"):
        resource["valueQuantity"] = quantity(float(value), unit)
    else:
        resource["valueInteger" if float(value).is_integer() else "valueQuantity"] = (
            int(value) if float(value).is_integer() else quantity(float(value), unit or "1")
        )
    if interpretation and interpretation != "normal":
        resource["interpretation"] = [{"text": interpretation}]
    return resource


def body_observation(
    resource_id: str, *, patient_id: str, kind: str, value: float, effective: str
) -> Resource:
    """A body weight or height Observation (LOINC, UCUM)."""
    code, display, unit = body_code(kind)
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": {"coding": [{"system": systems().loinc, "code": code, "display": display}]},
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": effective,
        "valueQuantity": quantity(value, unit),
    }


def _answer(value: Any) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    if isinstance(value, str) and value:
        return {"valueString": value}
    return None


def _items(prefix: str, answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """QuestionnaireResponse items from a PRO's stored answers (nested groups, lists of item scores)."""
    items: list[dict[str, Any]] = []
    for name, value in answers.items():
        link_id = f"{prefix}{name}"
        if isinstance(value, Mapping):
            nested = _items(f"{link_id}.", value)
            if nested:
                items.append({"linkId": link_id, "text": name, "item": nested})
        elif isinstance(value, list):
            nested = [
                {"linkId": f"{link_id}.{i + 1}", "answer": [answer]}
                for i, v in enumerate(value)
                if (answer := _answer(v)) is not None
            ]
            if nested:
                items.append({"linkId": link_id, "text": name, "item": nested})
        elif (answer := _answer(value)) is not None:
            items.append({"linkId": link_id, "text": name, "answer": [answer]})
    return items


def questionnaire_response(
    resource_id: str, *, patient_id: str, authored: str, timepoint: str, answers: Mapping[str, Any]
) -> Resource:
    """A QuestionnaireResponse for one set of PROs (its items as stored, with their LOINC codes)."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "status": "completed",
        "subject": reference("Patient", patient_id),
        "authored": authored,
        "extension": [{"url": EXT_PRO_TIMEPOINT, "valueString": timepoint}],
        "item": _items("", answers),
    }


def adverse_event(
    resource_id: str,
    *,
    patient_id: str,
    encounter_id: str,
    kind: str,
    severity: str,
    onset: str,
    recorded: str,
    cp_at_onset_ng_ml: float,
    action: str | None,
    outcome: str | None,
) -> Resource:
    """An AdverseEvent during a session, the predicted Cp at its onset as an extension (R4 has no element)."""
    extensions: list[dict[str, Any]] = [
        {"url": EXT_PREDICTED_CP, "valueQuantity": quantity(round(cp_at_onset_ng_ml, 1), "ng/mL")}
    ]
    if action:
        extensions.append({"url": EXT_AE_ACTION, "valueString": action})
    resource: Resource = {
        "resourceType": "AdverseEvent",
        "id": resource_id,
        "extension": extensions,
        "actuality": "actual",
        "event": {"text": kind},
        "subject": reference("Patient", patient_id),
        "encounter": reference("Encounter", encounter_id),
        "date": onset,
        "recordedDate": recorded,
        "severity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                    "code": severity if severity in ("mild", "moderate", "severe") else "severe",
                }
            ]
        },
        "suspectEntity": [{"instance": reference("Medication", KETAMINE_ID)}],
    }
    if outcome:
        resource["outcome"] = {"text": outcome}
    return resource


def consent(
    resource_id: str,
    *,
    patient_id: str,
    status: str,
    signed_at: str,
    protocol_id: str,
    template_version: str,
) -> Resource:
    """A Consent to treatment under one protocol."""
    return {
        "resourceType": "Consent",
        "id": resource_id,
        "status": "active" if status == "signed" else "inactive",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]
        },
        "category": [{"text": "consent to ketamine infusion treatment"}],
        "patient": reference("Patient", patient_id),
        "dateTime": signed_at,
        "policyRule": {"text": f"protocol {protocol_id}, consent template {template_version}"},
    }
