"""The retrospective cohort: validated records, their column arrays, and the CSV reader (all-or-nothing).

Row numbers in errors are line numbers of the file as an editor or spreadsheet shows them: the
header is row 1 (after any `# key: value` metadata lines, which count as rows too), so the first
data row of a plain file is row 2.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
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


@dataclass(frozen=True, slots=True)
class CohortRecord:
    """One analysed patient of a cohort (None / NaN-free: missing values are None)."""

    patient_id: str
    diagnosis: str
    pain_mechanism: str
    baseline_nrs: float | None
    followup_nrs: float | None
    discontinued: str = "none"
    relief_weeks: float | None = None
    relief_ongoing: bool | None = None
    age: float | None = None
    sex: str | None = None
    weight_kg: float | None = None
    sessions_planned: int | None = None
    sessions_completed: int | None = None
    total_dose_mg: float | None = None
    adverse_events: tuple[str, ...] = ()


def _floats(values: Iterable[float | int | None]) -> npt.NDArray[np.float64]:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Cohort:
    """A validated cohort: per-patient records plus NumPy column arrays (NaN = missing) for analysis."""

    records: tuple[CohortRecord, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    patient_id: npt.NDArray[np.str_] = field(init=False)
    diagnosis: npt.NDArray[np.str_] = field(init=False)
    diagnosis_group: npt.NDArray[np.str_] = field(init=False)
    pain_mechanism: npt.NDArray[np.str_] = field(init=False)
    discontinued: npt.NDArray[np.str_] = field(init=False)
    baseline_nrs: npt.NDArray[np.float64] = field(init=False)
    followup_nrs: npt.NDArray[np.float64] = field(init=False)
    relief_weeks: npt.NDArray[np.float64] = field(init=False)
    relief_ongoing: npt.NDArray[np.float64] = field(init=False)
    sessions_planned: npt.NDArray[np.float64] = field(init=False)
    sessions_completed: npt.NDArray[np.float64] = field(init=False)
    total_dose_mg: npt.NDArray[np.float64] = field(init=False)
    adverse_events: tuple[tuple[str, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        recs = self.records
        if not recs:
            raise InputError("the cohort has no patients", field="cohort")
        ids = [r.patient_id for r in recs]
        if len(set(ids)) != len(ids):
            raise InputError("duplicate patient_id in cohort", field="patient_id")
        put = object.__setattr__  # frozen dataclass: derived columns are set once here
        put(self, "patient_id", np.array(ids, dtype=str))
        put(self, "diagnosis", np.array([r.diagnosis for r in recs], dtype=str))
        put(self, "diagnosis_group", np.array([get_diagnosis(r.diagnosis).group for r in recs], dtype=str))
        put(self, "pain_mechanism", np.array([r.pain_mechanism for r in recs], dtype=str))
        put(self, "discontinued", np.array([r.discontinued for r in recs], dtype=str))
        put(self, "baseline_nrs", _floats(r.baseline_nrs for r in recs))
        put(self, "followup_nrs", _floats(r.followup_nrs for r in recs))
        put(self, "relief_weeks", _floats(r.relief_weeks for r in recs))
        put(
            self,
            "relief_ongoing",
            _floats(None if r.relief_ongoing is None else int(r.relief_ongoing) for r in recs),
        )
        put(self, "sessions_planned", _floats(r.sessions_planned for r in recs))
        put(self, "sessions_completed", _floats(r.sessions_completed for r in recs))
        put(self, "total_dose_mg", _floats(r.total_dose_mg for r in recs))
        put(self, "adverse_events", tuple(r.adverse_events for r in recs))

    @property
    def n(self) -> int:
        """Number of patients."""
        return int(self.patient_id.size)

    @classmethod
    def from_columns(
        cls,
        *,
        patient_id: npt.NDArray[np.str_],
        diagnosis: npt.NDArray[np.str_],
        pain_mechanism: npt.NDArray[np.str_],
        baseline_nrs: npt.NDArray[np.float64],
        followup_nrs: npt.NDArray[np.float64],
        discontinued: npt.NDArray[np.str_],
        relief_weeks: npt.NDArray[np.float64],
        relief_ongoing: npt.NDArray[np.float64],
        sessions_planned: npt.NDArray[np.float64],
        sessions_completed: npt.NDArray[np.float64],
        total_dose_mg: npt.NDArray[np.float64],
        adverse_event_counts: Mapping[str, npt.NDArray[np.int64]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Cohort:
        """A cohort from per-patient column arrays (NaN = missing), validated as arrays; `records` is empty.

        For large cohorts aggregated in a database: no per-patient objects are built except the
        adverse-event tuples, one per patient with an event.
        """
        ids = np.asarray(patient_id, dtype=str)
        n = ids.size
        columns = {
            "diagnosis": np.asarray(diagnosis, dtype=str),
            "pain_mechanism": np.asarray(pain_mechanism, dtype=str),
            "discontinued": np.asarray(discontinued, dtype=str),
        }
        numbers = {
            name: np.asarray(values, dtype=np.float64)
            for name, values in (
                ("baseline_nrs", baseline_nrs),
                ("followup_nrs", followup_nrs),
                ("relief_weeks", relief_weeks),
                ("relief_ongoing", relief_ongoing),
                ("sessions_planned", sessions_planned),
                ("sessions_completed", sessions_completed),
                ("total_dose_mg", total_dose_mg),
            )
        }
        counts = {k: np.asarray(v, dtype=np.int64) for k, v in (adverse_event_counts or {}).items()}
        for name, column in [*columns.items(), *numbers.items(), *counts.items()]:
            if column.shape != (n,):
                raise InputError(f"column {name} has {column.size} values for {n} patients", field=name)
        if n == 0:
            raise InputError("the cohort has no patients", field="cohort")
        if np.unique(ids).size != n:
            raise InputError("duplicate patient_id in cohort", field="patient_id")
        codes, code_index = np.unique(columns["diagnosis"], return_inverse=True)
        groups = np.array([get_diagnosis(str(c)).group for c in codes], dtype=str)
        canonical = np.array([get_diagnosis(str(c)).code for c in codes], dtype=str)
        mechanisms = [m.value for m in PainMechanism]
        if bad := sorted(set(np.unique(columns["pain_mechanism"]).tolist()) - set(mechanisms)):
            raise InputError(f"{bad[0]!r} is not one of {'|'.join(mechanisms)}", field="pain_mechanism")
        if bad := sorted(set(np.unique(columns["discontinued"]).tolist()) - set(DISCONTINUATION_REASONS)):
            raise InputError(
                f"{bad[0]!r} is not one of {'|'.join(DISCONTINUATION_REASONS)}", field="discontinued"
            )
        for name in ("baseline_nrs", "followup_nrs"):
            if np.any((numbers[name] < 0) | (numbers[name] > 10)):
                raise InputError("a value is outside 0-10", field=name)
        if np.any(~np.isnan(numbers["followup_nrs"]) & np.isnan(numbers["baseline_nrs"])):
            raise InputError("follow-up NRS given without a baseline NRS", field="baseline_nrs")
        if any(np.any(c < 0) for c in counts.values()):
            raise InputError("adverse event counts must not be negative", field="adverse_events")
        events: list[tuple[str, ...]] = [()] * n
        if counts:
            names = sorted(counts)
            matrix = np.column_stack([counts[k] for k in names])
            for row in np.flatnonzero(matrix.sum(axis=1)):
                events[row] = tuple(
                    name for name, k in zip(names, matrix[row], strict=True) for _ in range(k)
                )
        cohort = cls.__new__(cls)
        put = object.__setattr__
        put(cohort, "records", ())
        put(cohort, "metadata", dict(metadata or {}))
        put(cohort, "patient_id", ids)
        put(cohort, "diagnosis", canonical[code_index])
        put(cohort, "diagnosis_group", groups[code_index])
        put(cohort, "pain_mechanism", columns["pain_mechanism"])
        put(cohort, "discontinued", columns["discontinued"])
        for name, values in numbers.items():
            put(cohort, name, values)
        put(cohort, "adverse_events", tuple(events))
        return cohort

    @property
    def synthetic(self) -> bool:
        """True when the cohort is marked as synthetic (made-up or reconstructed) data."""
        return bool(self.metadata.get("synthetic", False))


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
            **record_fields,
        )


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
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
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
    return Cohort(records=tuple(records), metadata=metadata)
