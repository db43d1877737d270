"""A population's Cp percentiles at report times and its median peak, without holding Cp (N, T).

The median peak is the highest point of the pointwise median curve over the whole grid. It is found
exactly by branch and bound over short intervals of the grid:

1. Cp is computed one block of grid columns at a time into one reused buffer. For each interval of a
   block, every patient's highest Cp in it bounds that patient from above anywhere in the interval,
   so the median of those maxima bounds the median curve there (order statistics are monotone).
   In each block's interval with the highest bound, the median is also taken at one probe column:
   where the patient whose maximum is the median of the maxima peaks.
2. The best probe is a lower bound of the peak. Only intervals whose upper bound reaches it can hold
   the peak; their blocks are computed again (the same columns in the same way: the same numbers)
   and the median taken at every column, best bound first, until no bound reaches the best value.

Percentiles at report times interpolate linearly between the two grid columns around each time,
as `numpy.interp` over the full percentile curves would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.pharmacology.engine import check_times, disposition, dose_arrays, evaluate
from ketaclinic.pharmacology.models import PKModel, check_patient, resolve_model
from ketaclinic.pharmacology.regimen import Regimen
from ketaclinic.pharmacology.simulate import sample_parameters

FloatArray = npt.NDArray[np.float64]
# Columns per block: 10,000 patients x 1,024 columns of float32 is a 41 MB buffer, reused.
BLOCK_COLUMNS = 1024
INTERVAL_COLUMNS = 64


@dataclass(frozen=True, slots=True)
class PopulationSummary:
    """Percentiles of Cp (ng/mL) at the report times and the median curve's peak."""

    model_key: str
    report_t_min: FloatArray
    quantiles_pct: tuple[float, ...]
    at_report_ng_ml: FloatArray  # (len(quantiles_pct), len(report_t_min))
    median_peak_t_min: float
    median_peak_ng_ml: float
    warnings: tuple[str, ...]


def column_medians(cp: np.ndarray) -> FloatArray:
    """The median of each column of `cp` (N, k): the middle value, or the mean of the two middle ones."""
    n = cp.shape[0]
    rows = np.ascontiguousarray(cp.T)  # one patient set per row: partition works on contiguous memory
    half = n // 2
    if n % 2:
        return np.partition(rows, half, axis=1)[:, half].astype(np.float64)
    middle = np.partition(rows, (half - 1, half), axis=1)
    return (middle[:, half - 1].astype(np.float64) + middle[:, half].astype(np.float64)) / 2.0


def _bracketing_columns(t: FloatArray, report: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """For each report time the grid column at or before it, and its weight towards the next column."""
    left = np.clip(np.searchsorted(t, report, side="right") - 1, 0, len(t) - 1)
    right = np.minimum(left + 1, len(t) - 1)
    span = t[right] - t[left]
    weight = np.where(span > 0, (report - t[left]) / np.where(span > 0, span, 1.0), 0.0)
    return left, weight


def summarize_population(
    model: str | PKModel,
    weights_kg: npt.ArrayLike,
    t_min: npt.ArrayLike,
    report_t_min: Sequence[float],
    *,
    regimen: Regimen | None = None,
    regimen_per_kg: Regimen | None = None,
    seed: int | np.random.Generator | None = None,
    bsv_cv: Mapping[str, float] | None = None,
    quantiles_pct: tuple[float, ...] = (5.0, 50.0, 95.0),
    block_columns: int = BLOCK_COLUMNS,
) -> PopulationSummary:
    """The patients `simulate_population` would sample, summarised in blocks of the grid (exact)."""
    pk = resolve_model(model)
    weights = np.atleast_1d(np.asarray(weights_kg, dtype=np.float64))
    if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise InputError("every weight must be a positive number of kg", field="weight_kg")
    t = check_times(t_min)
    report = np.asarray(report_t_min, dtype=np.float64)
    if report.size == 0 or report[0] < t[0] or report[-1] > t[-1] or np.any(np.diff(report) < 0):
        raise InputError(
            f"report times must be increasing within {t[0]:g}-{t[-1]:g} min", field="report_times"
        )
    if block_columns < INTERVAL_COLUMNS or block_columns % INTERVAL_COLUMNS:
        raise InputError(f"block_columns must be a multiple of {INTERVAL_COLUMNS}", field="block_columns")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params = sample_parameters(pk, weights, rng, bsv_cv)
    warnings: set[str] = set()
    for w in (weights.min(), weights.max()):
        warnings.update(check_patient(pk, float(w)))
    if not (pk.bsv_cv if bsv_cv is None else bsv_cv):
        warnings.add(f"{pk.key} has no published between-subject variability: patients differ by weight only")
    disp = disposition(pk, weights, parameters=params)
    doses = dose_arrays(regimen or Regimen(), weights, regimen_per_kg)
    buffer = np.empty((len(weights), min(block_columns, len(t))), dtype=np.float32)

    def block(start: int) -> np.ndarray:
        stop = min(start + block_columns, len(t))
        out = buffer[:, : stop - start]
        evaluate(disp, doses, t[start:stop], dtype=np.float32, out=out)
        return out

    left, weight = _bracketing_columns(t, report)
    wanted = np.union1d(left, np.minimum(left + 1, len(t) - 1))
    at_column: dict[int, FloatArray] = {}
    bounds: list[tuple[float, int, int]] = []  # (upper bound, first column, block start)
    best_value, best_column = -np.inf, 0
    for start in range(0, len(t), block_columns):
        cp = block(start)
        for column in wanted[(wanted >= start) & (wanted < start + cp.shape[1])]:
            values = cp[:, column - start].astype(np.float64)
            at_column[int(column)] = np.percentile(values, quantiles_pct)
        firsts = np.arange(0, cp.shape[1], INTERVAL_COLUMNS)
        maxima = np.maximum.reduceat(cp, firsts, axis=1)
        upper = column_medians(maxima)
        bounds.extend((float(b), start + int(f), start) for f, b in zip(firsts, upper, strict=True))
        top = int(np.argmax(upper))
        typical = int(np.argpartition(maxima[:, top], len(weights) // 2)[len(weights) // 2])
        probe = int(firsts[top]) + int(np.argmax(cp[typical, firsts[top] : firsts[top] + INTERVAL_COLUMNS]))
        value = float(column_medians(cp[:, probe : probe + 1])[0])
        if value > best_value:
            best_value, best_column = value, start + probe
    refined: dict[int, np.ndarray] = {}
    for bound, first, start in sorted(bounds, key=lambda b: (-b[0], b[1])):
        if bound < best_value:
            break  # no later interval can reach the best median found
        if start not in refined:
            refined = {start: block(start)}  # one block kept at a time: memory stays one buffer
        cp = refined[start]
        stop = min(first + INTERVAL_COLUMNS, start + cp.shape[1])
        medians = column_medians(cp[:, first - start : stop - start])
        top = int(np.argmax(medians))  # the first column of the highest median in the interval
        if medians[top] > best_value or (medians[top] == best_value and first + top < best_column):
            best_value, best_column = float(medians[top]), first + top
    lower = np.array([at_column[int(c)] for c in left]).T
    upper_q = np.array([at_column[int(min(c + 1, len(t) - 1))] for c in left]).T
    at_report = lower + (upper_q - lower) * weight[None, :]
    return PopulationSummary(
        pk.key, report, quantiles_pct, at_report, float(t[best_column]), best_value, tuple(sorted(warnings))
    )
