"""The retrospective cohort: validated per-patient records and their column arrays (NaN = missing)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.outcomes.definitions import DISCONTINUATION_REASONS
from ketaclinic.screening.diagnoses import PainMechanism, get_diagnosis


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
    daily_nrs: tuple[tuple[int, float], ...] = ()  # (day of the course, NRS), day 0 = first infusion day


def _daily_matrix(
    rows: Sequence[tuple[tuple[int, float], ...]],
) -> tuple[tuple[int, ...], npt.NDArray[np.float64]]:
    """Days that any patient has a daily NRS for, and the patient x day NRS matrix (NaN = not rated)."""
    days = tuple(sorted({day for row in rows for day, _ in row}))
    column = {day: j for j, day in enumerate(days)}
    matrix = np.full((len(rows), len(days)), np.nan)
    for i, row in enumerate(rows):
        for day, nrs in row:
            matrix[i, column[day]] = nrs
    return days, matrix


def _floats(values: Iterable[float | int | None]) -> npt.NDArray[np.float64]:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Cohort:
    """A validated cohort: per-patient records plus NumPy column arrays (NaN = missing) for analysis."""

    records: tuple[CohortRecord, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    # False when the source has no adverse-event column: the report says "not recorded", never "0 of n".
    adverse_events_recorded: bool = True
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
    daily_nrs_days: tuple[int, ...] = field(init=False)
    daily_nrs: npt.NDArray[np.float64] = field(init=False)

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
        days, matrix = _daily_matrix([r.daily_nrs for r in recs])
        put(self, "daily_nrs_days", days)
        put(self, "daily_nrs", matrix)

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
        adverse_events_recorded: bool = True,
        followup_without_baseline: bool = False,
    ) -> Cohort:
        """A cohort from per-patient column arrays (NaN = missing), validated as arrays; `records` is empty.

        For large cohorts aggregated in a database: no per-patient objects are built except the
        adverse-event tuples, one per patient with an event. No daily NRS is carried this way.
        `followup_without_baseline` accepts a follow-up NRS with no baseline: a clinic's records can
        hold one (it counts as a non-responder), a cohort file cannot.
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
        unmatched = ~np.isnan(numbers["followup_nrs"]) & np.isnan(numbers["baseline_nrs"])
        if not followup_without_baseline and np.any(unmatched):
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
        put(cohort, "adverse_events_recorded", adverse_events_recorded)
        put(cohort, "patient_id", ids)
        put(cohort, "diagnosis", canonical[code_index])
        put(cohort, "diagnosis_group", groups[code_index])
        put(cohort, "pain_mechanism", columns["pain_mechanism"])
        put(cohort, "discontinued", columns["discontinued"])
        for name, values in numbers.items():
            put(cohort, name, values)
        put(cohort, "adverse_events", tuple(events))
        put(cohort, "daily_nrs_days", ())
        put(cohort, "daily_nrs", np.zeros((n, 0)))
        return cohort

    @property
    def synthetic(self) -> bool:
        """True when the cohort is marked as synthetic (made-up or reconstructed) data."""
        return bool(self.metadata.get("synthetic", False))
