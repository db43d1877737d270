"""Registering referred patients from a FHIR file: all of them in one transaction, or none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from ketaclinic.errors import ConflictError, InputError, ManyInputsError, plain_words
from ketaclinic.interop.fhir_import import ReadFile, ReferredPatient
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import PatientOut
from ketaclinic.services.patients.registry import PatientCreate, add_patient, weight_implausibility
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The patients registered and the resource types the file held that an import does not read."""

    patients: list[PatientOut]
    ignored: dict[str, int]


def _create(referred: ReferredPatient, problems: list[InputError]) -> PatientCreate | None:
    try:
        return PatientCreate(
            mrn=referred.mrn,
            family_name=referred.family_name,
            given_name=referred.given_name,
            birth_date=referred.birth_date,
            sex=referred.sex,
            diagnoses=referred.diagnoses,
            weight_kg=referred.weight_kg,
            height_cm=referred.height_cm,
        )
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            problems.append(InputError(plain_words(error), field=f"{referred.entry}.{where}"))
        return None


def import_referrals(
    db: Database, actor: Actor, read: ReadFile, *, source: str, config: Settings | Path | None
) -> ImportResult:
    """Register every patient of the file with their conditions, weight and height, or none of them.

    Problems of every entry are raised together (ManyInputsError); a record number already
    registered is a ConflictError naming each one, and nothing is written.
    """
    require(actor, Permission.PATIENTS_EDIT)
    problems: list[InputError] = []
    checked: list[tuple[ReferredPatient, PatientCreate]] = []
    for referred in read.patients:
        data = _create(referred, problems)
        if data is None:
            continue
        implausible = weight_implausibility(data, config)
        if implausible is not None:  # an import cannot confirm a doubtful weight: the referrer's to check
            problems.append(InputError(implausible, field=f"{referred.entry}.weight_kg"))
            continue
        if any(d.mrn == data.mrn for _r, d in checked):
            problems.append(
                InputError(f"MRN {data.mrn} is given twice", field=f"{referred.entry}.identifier")
            )
            continue
        checked.append((referred, data))
    ManyInputsError.raise_any(problems)
    with db.transaction() as session:
        mrns = [data.mrn for _referred, data in checked]
        existing = set(session.execute(select(Patient.mrn).where(Patient.mrn.in_(mrns))).scalars())
        if existing:
            named = ", ".join(f"MRN {d.mrn} ({r.entry})" for r, d in checked if d.mrn in existing)
            raise ConflictError(f"already registered: {named}; nothing was imported", field="mrn")
        registered = [
            add_patient(session, actor, data, synthetic=False, implausible=None) for _r, data in checked
        ]
        audit(
            session,
            actor,
            "import",
            "fhir",
            source,
            {
                "patients": {"old": None, "new": [p.id for p in registered]},
                "ignored": {"old": None, "new": read.ignored},
            },
        )
        return ImportResult(registered, read.ignored)
