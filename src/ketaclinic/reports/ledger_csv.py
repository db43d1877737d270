"""The controlled-substance report as CSV: one file, a `section` column naming which table a row is from."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from pydantic import BaseModel

from ketaclinic.services.ledger.reports import LedgerReport

SECTIONS = ("dispensing", "reconciliations", "discrepancies", "count_differences", "inventory")


def _rows(section: str, rows: Sequence[BaseModel]) -> list[dict[str, object]]:
    return [{"section": section} | row.model_dump(mode="json") for row in rows]


def report_csv(report: LedgerReport) -> str:
    """Every section of the report, one after another, each with its own header row."""
    out = io.StringIO()
    out.write(
        f"# {report.jurisdiction}; {report.start} to {report.end}; keep {report.retention_years} years"
        f" ({report.retention_source})\n"
    )
    for section in SECTIONS:
        rows = _rows(section, getattr(report, section))
        if not rows:
            continue
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
