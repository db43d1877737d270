"""The shipped diagnosis code list (ICD-10-CM with SNOMED CT where verified) and the pain vocabularies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import InputError


class PainMechanism(StrEnum):
    """IASP pain mechanism classes (used by Vallé 2024)."""

    NEUROPATHIC = "neuropathic"
    NOCICEPTIVE = "nociceptive"
    NOCIPLASTIC = "nociplastic"


class PriorTreatmentOutcome(StrEnum):
    """What happened with a treatment tried before ketamine."""

    FAILED = "failed"
    INTOLERANT = "intolerant"
    PARTIAL = "partial"
    CONTRAINDICATED = "contraindicated"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One coded diagnosis of the shipped list."""

    code: str
    label: str
    group: str
    snomed: str | None
    source: str
    status: Status


@cache
def list_diagnoses() -> tuple[Diagnosis, ...]:
    """Every diagnosis of the shipped list, in file order."""
    rows = load_toml("diagnoses.toml")["diagnosis"]
    return tuple(
        Diagnosis(
            code=row["code"],
            label=row["label"],
            group=row["group"],
            snomed=row.get("snomed"),
            source=row["source"],
            status=parse_status(row["status"], f"diagnoses.toml {row['code']}"),
        )
        for row in rows
    )


def get_diagnosis(code: str, *, field: str = "diagnosis") -> Diagnosis:
    """The diagnosis with this ICD-10-CM code; an unknown code is an InputError naming `field`."""
    wanted = code.strip().upper()
    for diagnosis in list_diagnoses():
        if diagnosis.code == wanted:
            return diagnosis
    raise InputError(f"unknown ICD-10-CM code {code!r} (not in the shipped code list)", field=field)
