"""The cohort CSV reader (all-or-nothing): every bad cell is reported at once, nothing is half-read.

Row numbers in errors are line numbers of the file as an editor or spreadsheet shows them: the
header is row 1 (after any `# key: value` metadata lines, which count as rows too), so the first
data row of a plain file is row 2.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketaclinic.errors import InputError
from ketaclinic.outcomes.cohort import Cohort, CohortRecord
from ketaclinic.outcomes.definitions import DISCONTINUATION_REASONS
from ketaclinic.screening.diagnoses import PainMechanism, get_diagnosis

REQUIRED_COLUMNS = (
    "patient_id",
    "diagnosis",
    "pain_mechanism",
    "baseline_nrs",
    "followup_nrs",
    "discontinued",
    "relief_weeks",
    "relief_ongoing",
)
OPTIONAL_COLUMNS = (
    "age",
    "sex",
    "weight_kg",
    "sessions_planned",
    "sessions_completed",
    "total_dose_mg",
    "adverse_events",
)
# Optional daily pain columns: nrs_day_<k>, the NRS on day k of the course (day 0 = first infusion day).
DAILY_NRS_PREFIX = "nrs_day_"
MAX_DAILY_NRS_DAY = 365
SEXES = ("female", "male", "other", "unknown")
_METADATA_KEYS = ("synthetic", "source", "title", "note")


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad cell: file row (header = row 1), column name and what is wrong."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


class CohortFileError(InputError):
    """A cohort file with bad rows; `.errors` lists every one, nothing was accepted."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        rows = len({e.row for e in errors})
        noun = "bad row" if rows == 1 else "bad rows"
        super().__init__(f"{rows} {noun}; first: {errors[0]}", field=None)


class _RowParser:
    """Parses one data row, collecting every error instead of stopping at the first."""

    def __init__(self, row_number: int, cells: dict[str, str]) -> None:
        self.row = row_number
        self.cells = cells
        self.errors: list[RowError] = []

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.row, column, message))

    def text(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def number(self, column: str, lo: float, hi: float, *, integer: bool = False) -> float | None:
        raw = self.text(column)
        if raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            self.error(column, f"{raw!r} is not a number")
            return None
        if not math.isfinite(value):
            self.error(column, f"{raw!r} is not a finite number")
        elif integer and value != int(value):
            self.error(column, f"{raw} is not a whole number")
        elif not lo <= value <= hi:
            self.error(column, f"{raw} is outside {lo:g}-{hi:g}")
        else:
            return value
        return None

    def choice(self, column: str, allowed: Sequence[str], *, default: str | None = None) -> str | None:
        raw = self.text(column).lower()
        if raw == "" and default is not None:
            return default
        if raw not in allowed:
            self.error(column, f"{raw!r} is not one of {'|'.join(allowed)}")
            return None
        return raw

    def parse(self) -> CohortRecord | None:
        patient_id = self.text("patient_id")
        if not patient_id:
            self.error("patient_id", "is empty")
        code = self.text("diagnosis").upper()
        try:
            code = get_diagnosis(code).code
        except InputError as exc:
            self.error("diagnosis", exc.message)
        mechanism = self.choice("pain_mechanism", [m.value for m in PainMechanism])
        baseline = self.number("baseline_nrs", 0, 10)
        followup = self.number("followup_nrs", 0, 10)
        if followup is not None and self.text("baseline_nrs") == "":
            self.error("baseline_nrs", "follow-up NRS given without a baseline NRS")
        discontinued = self.choice("discontinued", DISCONTINUATION_REASONS, default="none")
        relief_weeks = self.number("relief_weeks", 0, 520)
        ongoing_raw = self.text("relief_ongoing")
        ongoing: bool | None = None
        if ongoing_raw in ("0", "1"):
            ongoing = ongoing_raw == "1"
        elif ongoing_raw != "":
            self.error("relief_ongoing", f"{ongoing_raw!r} is not 0 or 1")
        elif self.text("relief_weeks") != "":
            self.error(
                "relief_ongoing", "is empty but relief_weeks is given (1 = still in relief, 0 = ended)"
            )
        planned = self.number("sessions_planned", 1, 100, integer=True)
        completed = self.number("sessions_completed", 0, 100, integer=True)
        if planned is not None and completed is not None and completed > planned:
            self.error("sessions_completed", f"{completed:g} is more than sessions_planned {planned:g}")
        sex = self.choice("sex", SEXES) if self.text("sex") else None
        record_fields: dict[str, Any] = {
            "age": self.number("age", 0, 120),
            "weight_kg": self.number("weight_kg", 1, 400),
            "total_dose_mg": self.number("total_dose_mg", 0, 100_000),
        }
        events = tuple(e.strip().lower() for e in self.text("adverse_events").split(";") if e.strip())
        daily = tuple(
            (day, nrs)
            for column, day in _daily_columns(self.cells)
            if (nrs := self.number(column, 0, 10)) is not None
        )
        if self.errors:
            return None
        assert mechanism is not None and discontinued is not None  # no error means both parsed
        return CohortRecord(
            patient_id=patient_id,
            diagnosis=code,
            pain_mechanism=mechanism,
            baseline_nrs=baseline,
            followup_nrs=followup,
            discontinued=discontinued,
            relief_weeks=relief_weeks,
            relief_ongoing=ongoing,
            sex=sex,
            sessions_planned=None if planned is None else int(planned),
            sessions_completed=None if completed is None else int(completed),
            adverse_events=events,
            daily_nrs=daily,
            **record_fields,
        )


def daily_nrs_day(column: str) -> int | None:
    """The day of an `nrs_day_<k>` column (0-365), or None when the name is not one."""
    digits = column.removeprefix(DAILY_NRS_PREFIX)
    if digits == column or not digits.isdigit() or (digits != "0" and digits.startswith("0")):
        return None
    day = int(digits)
    return day if day <= MAX_DAILY_NRS_DAY else None


def _daily_columns(cells: dict[str, str]) -> list[tuple[str, int]]:
    return [(column, day) for column in cells if (day := daily_nrs_day(column)) is not None]


def _split_metadata(text: str) -> tuple[dict[str, Any], int]:
    """Leading `# key: value` lines: the metadata and how many lines they take."""
    metadata: dict[str, Any] = {}
    lines = text.splitlines()
    count = 0
    for line in lines:
        if not line.startswith("#"):
            break
        count += 1
        key, sep, value = line.lstrip("#").partition(":")
        key = key.strip().lower()
        if sep and key in _METADATA_KEYS:
            value = value.strip()
            metadata[key] = value.lower() in ("true", "yes", "1") if key == "synthetic" else value
    return metadata, count


def read_cohort_csv(path_or_text: str | Path) -> Cohort:
    """Read and validate a cohort CSV (a path, or the CSV text itself); every bad cell is reported at once."""
    if isinstance(path_or_text, Path) or "\n" not in path_or_text:
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", field="input") from exc
    else:
        text = path_or_text.removeprefix("\ufeff")
    metadata, skipped = _split_metadata(text)
    reader = csv.DictReader(io.StringIO("\n".join(text.splitlines()[skipped:])))
    header = [h.strip() for h in (reader.fieldnames or [])]
    header_row = skipped + 1
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CohortFileError([RowError(header_row, c, "required column is missing") for c in missing])
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and daily_nrs_day(c) is None]
    if unknown:
        raise CohortFileError([RowError(header_row, c, "unknown column") for c in unknown])
    reader.fieldnames = header
    errors: list[RowError] = []
    records: list[CohortRecord] = []
    first_row: dict[str, int] = {}
    for cells in reader:
        row_number = skipped + reader.line_num
        if None in cells:
            errors.append(RowError(row_number, header[-1], "more cells than header columns"))
            continue
        if not any((v or "").strip() for v in cells.values()):
            continue  # blank line
        parser = _RowParser(row_number, cells)
        record = parser.parse()
        pid = parser.text("patient_id")
        if pid and pid in first_row:
            parser.error("patient_id", f"duplicate patient_id {pid!r} (first on row {first_row[pid]})")
            record = None
        elif pid:
            first_row[pid] = row_number
        errors.extend(parser.errors)
        if record is not None:
            records.append(record)
    if errors:
        raise CohortFileError(errors)
    if not records:
        raise CohortFileError([RowError(header_row + 1, "patient_id", "the file has no data rows")])
    return Cohort(
        records=tuple(records), metadata=metadata, adverse_events_recorded="adverse_events" in header
    )
