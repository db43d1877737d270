"""`export parquet`: the de-identified cohort tables (patient, course, session, pro) as Parquet files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ketaclinic.errors import ConflictError
from ketaclinic.services.audit import audit
from ketaclinic.services.interop.fhir_collection import ExportOptions
from ketaclinic.services.interop.fhir_export import check_export_permission
from ketaclinic.services.interop.redcap_export import clinic_rows, dictionary_fields
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database

TABLES = ("patient", "course", "session", "pro")


@dataclass(frozen=True, slots=True)
class ParquetExport:
    """The files written and their row counts."""

    files: dict[str, Path]
    rows: dict[str, int]


def _tables(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The REDCap rows split by form, each table with its own columns only (dates typed as dates)."""
    fields = dictionary_fields(identified=False)
    columns = {
        t: ["record_id", *(f.name for f in fields if f.form == t and f.name != "record_id")] for t in TABLES
    }
    dates = {f.name for f in fields if f.validation == "date_ymd"}
    tables: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for row in rows:
        table = str(row.get("redcap_repeat_instrument") or "patient")
        out = {c: row.get(c) for c in columns[table]}
        if table != "patient":
            out["instance"] = row["redcap_repeat_instance"]
        for name in dates & set(out):
            out[name] = None if out[name] is None else date.fromisoformat(str(out[name]))
        tables[table].append(out)
    return tables


def write_parquet_snapshot(db: Database, actor: Actor, directory: Path, *, secret: str) -> ParquetExport:
    """Write `patient.parquet`, `course.parquet`, `session.parquet` and `pro.parquet` (de-identified)."""
    import pyarrow as pa  # loaded only for this export
    import pyarrow.parquet as pq

    check_export_permission(actor, ExportOptions(deidentified=True))
    files = {t: directory / f"{t}.parquet" for t in TABLES}
    if any(path.exists() for path in files.values()):
        raise ConflictError(
            f"{directory} already holds a Parquet snapshot: choose a new directory", field="directory"
        )
    with db.transaction() as session:
        patients, rows = clinic_rows(session, secret=secret, identified=False)
        tables = _tables(rows)
        audit(
            session,
            actor,
            "export",
            "cohort",
            "parquet",
            {
                "format": {"old": None, "new": "parquet"},
                "deidentified": {"old": None, "new": True},
                "patients": {"old": None, "new": len(patients)},
                "rows": {"old": None, "new": {t: len(r) for t, r in tables.items()}},
            },
        )
    directory.mkdir(parents=True, exist_ok=True)
    for table, records in tables.items():
        pq.write_table(pa.Table.from_pylist(records), files[table])
    return ParquetExport(files, {t: len(r) for t, r in tables.items()})
