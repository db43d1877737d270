"""The code systems and codes of the FHIR edge, from data/fhir_codes.toml and observation_kinds.toml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from ketaclinic.data import load_toml
from ketaclinic.monitoring.observations import observation_kinds


@dataclass(frozen=True, slots=True)
class CodeSystems:
    """The URIs every mapping writes codings with."""

    icd10cm: str
    snomed: str
    loinc: str
    ucum: str
    rxnorm: str
    unii: str
    ndc: str
    observation_kind: str
    pseudonym: str
    mrn: str
    questionnaire_item: str


@cache
def _file() -> dict[str, Any]:
    return load_toml("fhir_codes.toml")


@cache
def systems() -> CodeSystems:
    """The code system URIs."""
    entries = _file()["system"]
    return CodeSystems(**{name: str(entry["uri"]) for name, entry in entries.items()})


def body_code(kind: str) -> tuple[str, str, str]:
    """(LOINC code, display, UCUM unit) of `weight` or `height`."""
    entry = _file()["body"][kind]
    return str(entry["loinc"]), str(entry["display"]), str(entry["ucum"])


def ketamine_codings() -> list[dict[str, str]]:
    """The ketamine product's codings that may leave the clinic (verified ones only)."""
    entry = _file()["ketamine"]
    uris = {"rxnorm": systems().rxnorm, "unii": systems().unii}
    return [
        {"system": uris[name], "code": str(entry[name]["code"]), "display": str(entry["display"])}
        for name in ("rxnorm", "unii")
        if entry[name].get("export") and entry[name]["status"] != "unverified"
    ]


def drug_codings(drug: str) -> list[dict[str, str]]:
    """A ledger drug's codings that may leave the clinic: ketamine's verified ones; none for the others."""
    return ketamine_codings() if drug == ketamine_display() else []


def ketamine_display() -> str:
    """How the ketamine product is named."""
    return str(_file()["ketamine"]["display"])


def observation_coding(key: str) -> list[dict[str, str]]:
    """The codings of a flowsheet item: its LOINC codes, else the clinic's own observation-kind code."""
    kind = observation_kinds()[key]
    if kind.loinc:
        return [{"system": systems().loinc, "code": code, "display": kind.label} for code in kind.loinc]
    return [{"system": systems().observation_kind, "code": key, "display": kind.label}]
