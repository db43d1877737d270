"""Referred patients read from FHIR R4 (a Bundle or ndjson): every problem found, named per entry."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ketaclinic.errors import InputError, ManyInputsError
from ketaclinic.interop.codes import body_code, systems
from ketaclinic.screening.diagnoses import list_diagnoses

# What an import reads; other resource types in the file are passed over, and said so.
READ_TYPES = ("Patient", "Condition", "Observation")
GENDERS = ("female", "male", "other", "unknown")


@dataclass(slots=True)
class ReferredPatient:
    """A patient to register, as the file describes them (checked again by the registry)."""

    entry: str
    reference: str
    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    sex: str
    diagnoses: list[str] = field(default_factory=list)
    weight_kg: float | None = None
    height_cm: float | None = None


@dataclass(frozen=True, slots=True)
class ReadFile:
    """What a file held: the patients to register and the resource types passed over (with counts)."""

    patients: list[ReferredPatient]
    ignored: dict[str, int]


def _entries(text: str) -> Iterator[tuple[str, Any]]:
    """(where, resource) for each resource of a Bundle or of an ndjson file."""
    stripped = text.strip()
    if not stripped:
        raise InputError("the file is empty", field="file")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, Mapping) and document.get("resourceType") == "Bundle":
        for index, entry in enumerate(document.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            yield f"entry[{index}]", resource
        return
    if isinstance(document, Mapping):
        yield "line 1", document
        return
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", field=f"line {number}") from None


def _validation_problem(resource: Mapping[str, Any]) -> str | None:
    """The first FHIR R4 (R4B models) validation problem of a resource, None when it validates."""
    resource_type = str(resource.get("resourceType", ""))
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    try:
        getattr(module, resource_type).model_validate(dict(resource))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return f"{where}: {first.get('msg', 'invalid')}"
        return str(exc).splitlines()[0]
    return None


def _mrn(resource: Mapping[str, Any]) -> str | None:
    """The clinic MRN identifier, else the first identifier given (the referrer's record number)."""
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, Mapping) and i.get("value")]
    ours = [i for i in identifiers if i.get("system") == systems().mrn]
    chosen = (ours or [i for i in identifiers if i.get("system") != systems().pseudonym])[:1]
    return str(chosen[0]["value"]) if chosen else None


def _patient(where: str, resource: Mapping[str, Any], problems: list[InputError]) -> ReferredPatient | None:
    before = len(problems)
    mrn = _mrn(resource)
    if mrn is None:
        problems.append(
            InputError("a patient needs an identifier (their record number)", field=f"{where}.identifier")
        )
    names = [n for n in resource.get("name") or [] if isinstance(n, Mapping)]
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = str(official.get("family") or "")
    given = " ".join(str(g) for g in official.get("given") or [])
    if not family or not given:
        problems.append(InputError("a patient needs a family and a given name", field=f"{where}.name"))
    birth: date | None = None
    try:
        birth = date.fromisoformat(str(resource.get("birthDate", "")))
    except ValueError:
        problems.append(InputError("a full birth date (YYYY-MM-DD) is needed", field=f"{where}.birthDate"))
    gender = resource.get("gender")
    if gender not in GENDERS:
        problems.append(InputError(f"gender must be one of {', '.join(GENDERS)}", field=f"{where}.gender"))
    if len(problems) > before or mrn is None or birth is None:
        return None
    return ReferredPatient(
        entry=where,
        reference=f"Patient/{resource.get('id', '')}",
        mrn=mrn,
        family_name=family,
        given_name=given,
        birth_date=birth,
        sex=str(gender),
    )


def _diagnosis_code(resource: Mapping[str, Any]) -> str | None:
    """The shipped list's ICD-10-CM code for a Condition (by ICD-10-CM, or by SNOMED CT where mapped)."""
    by_icd = {d.code: d.code for d in list_diagnoses()}
    by_snomed = {d.snomed: d.code for d in list_diagnoses() if d.snomed}
    for coding in (resource.get("code") or {}).get("coding") or []:
        code = str(coding.get("code", ""))
        if coding.get("system") == systems().icd10cm and code.upper() in by_icd:
            return by_icd[code.upper()]
        if coding.get("system") == systems().snomed and code in by_snomed:
            return by_snomed[code]
    return None


def _body_measure(resource: Mapping[str, Any]) -> tuple[str, float, str] | None:
    """(kind, value, unit) of a body weight or height Observation; None for any other Observation."""
    codes = {
        str(c.get("code"))
        for c in (resource.get("code") or {}).get("coding") or []
        if c.get("system") == systems().loinc
    }
    for kind in ("weight", "height"):
        loinc, _display, _unit = body_code(kind)
        if loinc in codes:
            quantity = resource.get("valueQuantity") or {}
            value = quantity.get("value")
            unit = str(quantity.get("code") or quantity.get("unit") or "")
            if isinstance(value, int | float):
                return kind, float(value), unit
    return None


def read_referrals(text: str) -> ReadFile:
    """The patients of a FHIR Bundle or ndjson file, with their conditions, weight and height.

    Every problem of every entry is collected and raised together (ManyInputsError), fields named
    `entry[i].element` (a Bundle) or `line n.element` (ndjson).
    """
    problems: list[InputError] = []
    patients: dict[str, ReferredPatient] = {}
    pending: list[tuple[str, Mapping[str, Any]]] = []
    ignored: dict[str, int] = {}
    for where, resource in _entries(text):
        if not isinstance(resource, Mapping) or not resource.get("resourceType"):
            problems.append(InputError("not a FHIR resource (no resourceType)", field=where))
            continue
        resource_type = str(resource["resourceType"])
        if resource_type not in READ_TYPES:
            ignored[resource_type] = ignored.get(resource_type, 0) + 1
            continue
        invalid = _validation_problem(resource)
        if invalid is not None:
            problems.append(InputError(f"not valid FHIR R4 {resource_type}: {invalid}", field=where))
            continue
        if resource_type == "Patient":
            found = _patient(where, resource, problems)
            if found is not None:
                if found.reference in patients:
                    problems.append(InputError(f"{found.reference} is given twice", field=where))
                patients[found.reference] = found
        else:
            pending.append((where, resource))
    for where, resource in pending:
        subject = str((resource.get("subject") or {}).get("reference", ""))
        owner = patients.get(subject)
        if owner is None:
            problems.append(
                InputError(
                    f"its subject {subject or '(none)'} is not a patient of the file",
                    field=f"{where}.subject",
                )
            )
            continue
        if resource["resourceType"] == "Condition":
            code = _diagnosis_code(resource)
            if code is None:
                problems.append(
                    InputError(
                        "no ICD-10-CM or SNOMED CT code of the shipped diagnosis list", field=f"{where}.code"
                    )
                )
            elif code not in owner.diagnoses:
                owner.diagnoses.append(code)
            continue
        measure = _body_measure(resource)
        if measure is None:
            ignored["Observation"] = ignored.get("Observation", 0) + 1
            continue
        kind, value, unit = measure
        expected = body_code(kind)[2]
        if unit != expected:
            problems.append(
                InputError(
                    f"a {kind} must be in {expected} (UCUM), not {unit or 'no unit'}",
                    field=f"{where}.valueQuantity",
                )
            )
        elif kind == "weight":
            owner.weight_kg = value
        else:
            owner.height_cm = value
    ManyInputsError.raise_any(problems)
    if not patients:
        raise InputError("the file holds no Patient", field="file")
    return ReadFile(list(patients.values()), ignored)
