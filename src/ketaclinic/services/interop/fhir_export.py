"""FHIR R4 exports: the Bulk Data files of the clinic and a patient's $everything Bundle (audited)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.interop import fhir_base, fhir_medication
from ketaclinic.services.audit import audit
from ketaclinic.services.interop.fhir_collection import Collected, ExportOptions
from ketaclinic.services.interop.fhir_records import patient_resources
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient


def check_export_permission(actor: Actor, options: ExportOptions) -> None:
    """Identified: roles that see patients; de-identified: those and researchers; both need export."""
    require(actor, Permission.EXPORT)
    if options.deidentified and not actor.can(Permission.PATIENTS_VIEW):
        require(actor, Permission.PATIENTS_VIEW_DEIDENTIFIED)
    else:
        require(actor, Permission.PATIENTS_VIEW)


def _patients(session: Session) -> Iterable[Patient]:
    return session.execute(
        select(Patient)
        .order_by(Patient.id)
        .options(selectinload(Patient.diagnoses), selectinload(Patient.measurements))
    ).scalars()


def _finish(out: Collected) -> dict[str, list[fhir_base.Resource]]:
    """Add the Medication when anything points at it; refuse an export whose references do not resolve."""
    if any(r["resourceType"] != "Patient" for r in out.all()):
        out.add(fhir_medication.medication())
    dangling = fhir_base.unresolved_references(out.all())
    if dangling:  # a mapping fault, never the user's: refuse rather than hand out a broken file
        raise ConflictError(f"the export would reference resources it does not hold: {', '.join(dangling)}")
    return {t: rs for t, rs in out.resources.items() if rs}


@dataclass(frozen=True, slots=True)
class BulkExport:
    """What a bulk export wrote: one ndjson file per resource type and the manifest."""

    directory: Path
    counts: dict[str, int]
    transaction_time: datetime


def collect_clinic(
    db: Database, actor: Actor, secret: str, options: ExportOptions
) -> tuple[dict[str, list[fhir_base.Resource]], datetime]:
    """Every patient's resources grouped by type, read and audited in one transaction."""
    check_export_permission(actor, options)
    with db.transaction() as session:
        out = Collected()
        patients = sum(patient_resources(session, p, secret, options, out) for p in _patients(session))
        grouped = _finish(out)
        moment = utcnow()
        audit(
            session,
            actor,
            "export",
            "fhir",
            "bulk",
            {
                "format": {"old": None, "new": "fhir-ndjson"},
                "deidentified": {"old": None, "new": options.deidentified},
                "since": {"old": None, "new": options.since.isoformat() if options.since else None},
                "patients": {"old": None, "new": patients},
                "counts": {"old": None, "new": {t: len(rs) for t, rs in grouped.items()}},
            },
        )
        return grouped, moment


def write_bulk_export(
    db: Database, actor: Actor, directory: Path, *, secret: str, options: ExportOptions
) -> BulkExport:
    """Write `Type.ndjson` files and `manifest.json` (the FHIR Bulk Data layout) into `directory`."""
    if directory.exists() and any(directory.iterdir()):
        raise ConflictError(f"{directory} is not empty: choose a new directory", field="directory")
    grouped, moment = collect_clinic(db, actor, secret, options)
    directory.mkdir(parents=True, exist_ok=True)
    output: list[dict[str, Any]] = []
    for resource_type, resources in grouped.items():
        path = directory / f"{resource_type}.ndjson"
        with path.open("w", encoding="utf-8") as handle:
            for resource in resources:
                handle.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n")
        output.append({"type": resource_type, "url": path.name, "count": len(resources)})
    manifest = {
        "transactionTime": moment.isoformat(),
        "request": "$export" + ("?_since=" + options.since.isoformat() if options.since else ""),
        "requiresAccessToken": False,
        "output": output,
        "error": [],
        "extension": {"deidentified": options.deidentified},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BulkExport(directory, {t: len(rs) for t, rs in grouped.items()}, moment)


def patient_everything(db: Database, actor: Actor, patient_id: int, *, secret: str) -> fhir_base.Resource:
    """A patient's $everything: a searchset Bundle of all their resources (identified; audited)."""
    require(actor, Permission.PATIENTS_VIEW)
    options = ExportOptions()
    with db.transaction() as session:
        patient = session.execute(
            select(Patient)
            .where(Patient.id == patient_id)
            .options(selectinload(Patient.diagnoses), selectinload(Patient.measurements))
        ).scalar_one_or_none()
        if patient is None:
            raise NotFoundError(f"no patient {patient_id}", field="patient_id")
        out = Collected()
        patient_resources(session, patient, secret, options, out)
        grouped = _finish(out)
        audit(
            session,
            actor,
            "export",
            "patient",
            patient.id,
            {
                "format": {"old": None, "new": "fhir-everything"},
                "deidentified": {"old": None, "new": False},
                "count": {"old": None, "new": sum(len(rs) for rs in grouped.values())},
            },
        )
        return fhir_base.bundle(r for rs in grouped.values() for r in rs)
