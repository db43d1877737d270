"""Public simulation entry points: one patient, a batch of weights, and a sampled population."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.pharmacology.engine import check_times, disposition, dose_arrays, evaluate
from ketaclinic.pharmacology.models import PKModel, check_patient, resolve_model
from ketaclinic.pharmacology.regimen import Regimen


@dataclass(frozen=True, slots=True)
class Prediction:
    """Predicted concentrations for one patient (ng/mL); `ce_ng_ml` only when a ke0 is known."""

    model_key: str
    weight_kg: float
    t_min: npt.NDArray[np.float64]
    cp_ng_ml: npt.NDArray[np.float64]
    ce_ng_ml: npt.NDArray[np.float64] | None
    warnings: tuple[str, ...]
    ke0_per_min: float | None = None


@dataclass(frozen=True, slots=True)
class BatchPrediction:
    """Predicted concentrations for N patients: arrays of shape (N, T)."""

    model_key: str
    weights_kg: npt.NDArray[np.float64]
    t_min: npt.NDArray[np.float64]
    cp_ng_ml: np.ndarray
    ce_ng_ml: np.ndarray | None
    warnings: tuple[str, ...]


def _ke0(model: PKModel, weight_kg: float, ke0_per_min: float | None) -> float | None:
    if ke0_per_min is None:
        return model.ke0_for(weight_kg)
    if not math.isfinite(ke0_per_min) or ke0_per_min <= 0:
        raise InputError(f"ke0 must be > 0 per min, got {ke0_per_min}", field="ke0")
    return float(ke0_per_min)


def simulate(
    model: str | PKModel,
    weight_kg: float,
    regimen: Regimen,
    t_min: npt.ArrayLike,
    *,
    age_y: float | None = None,
    ke0_per_min: float | None = None,
) -> Prediction:
    """Exact Cp (and Ce when a ke0 is known or given) for one patient at the times `t_min`.

    Examples
    --------
    >>> from ketaclinic.pharmacology import Infusion, Regimen, simulate
    >>> p = simulate("domino1984", 70, Regimen(infusions=(Infusion(0, 240, 35),)), [1, 60, 240])
    >>> [round(float(c), 3) for c in p.cp_ng_ml]
    [67.02, 176.485, 259.733]
    """
    pk = resolve_model(model)
    warnings = check_patient(pk, weight_kg, age_y)
    t = check_times(t_min)
    ke0 = _ke0(pk, weight_kg, ke0_per_min)
    weights = np.array([float(weight_kg)])
    cp, ce = evaluate(disposition(pk, weights, ke0_per_min=ke0), dose_arrays(regimen, weights), t)
    return Prediction(pk.key, float(weight_kg), t, cp[0], None if ce is None else ce[0], warnings, ke0)


def simulate_batch(
    model: str | PKModel,
    weights_kg: npt.ArrayLike,
    t_min: npt.ArrayLike,
    *,
    regimen: Regimen | None = None,
    regimen_per_kg: Regimen | None = None,
    parameters: Mapping[str, npt.ArrayLike] | None = None,
    ke0_per_min: npt.ArrayLike | None = None,
    effect_site: bool = False,
    dtype: npt.DTypeLike = np.float64,
    out: np.ndarray | None = None,
) -> BatchPrediction:
    """Cp (N, T) for many patients: `regimen` in mg and mg/h plus `regimen_per_kg` in mg/kg and mg/kg/h.

    `parameters` (volumes L, clearances L/min, arrays of N) replaces the weight-scaled typical values.
    `dtype=np.float32` halves the output memory (the arithmetic stays float64 up to the last product);
    `out` is a preallocated (N, T) array that receives Cp (no allocation at all for the output).
    """
    pk = resolve_model(model)
    weights = np.atleast_1d(np.asarray(weights_kg, dtype=np.float64))
    if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise InputError("every weight must be a positive number of kg", field="weight_kg")
    warnings: set[str] = set()
    for w in (weights.min(), weights.max()):
        warnings.update(check_patient(pk, float(w)))
    t = check_times(t_min)
    ke0: npt.ArrayLike | None = ke0_per_min
    if ke0 is None and effect_site:
        if pk.ke0_per_min is None:
            raise InputError(f"{pk.key} has no published ke0: give one", field="ke0")
        ke0 = np.array([pk.ke0_for(float(w)) for w in weights])
    disp = disposition(pk, weights, parameters=parameters, ke0_per_min=ke0)
    doses = dose_arrays(regimen or Regimen(), weights, regimen_per_kg)
    cp, ce = evaluate(disp, doses, t, dtype=dtype, out=out)
    return BatchPrediction(pk.key, weights, t, cp, ce, tuple(sorted(warnings)))


@dataclass(frozen=True, slots=True)
class PopulationPrediction:
    """A sampled population: individual parameters and Cp (N, T) in ng/mL."""

    model_key: str
    weights_kg: npt.NDArray[np.float64]
    parameters: Mapping[str, npt.NDArray[np.float64]]
    t_min: npt.NDArray[np.float64]
    cp_ng_ml: np.ndarray
    warnings: tuple[str, ...]

    def percentiles(self, q: tuple[float, ...] = (5.0, 50.0, 95.0)) -> npt.NDArray[np.float64]:
        """Percentiles of Cp across patients at every time: shape (len(q), T)."""
        return np.asarray(np.percentile(self.cp_ng_ml, q, axis=0), dtype=np.float64)


def sample_parameters(
    model: PKModel,
    weights_kg: npt.NDArray[np.float64],
    rng: np.random.Generator,
    bsv_cv: Mapping[str, float] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Weight-scaled parameters times log-normal variability, omega^2 = ln(1 + CV^2) per parameter."""
    params = model.scaled(weights_kg)
    cvs = dict(model.bsv_cv if bsv_cv is None else bsv_cv)
    unknown = set(cvs) - set(params)
    if unknown:
        raise InputError(f"no parameter {sorted(unknown)} in {model.key}", field="bsv_cv")
    for name in sorted(cvs):  # sorted: the same seed gives the same patients whatever the dict order
        cv = cvs[name]
        if not math.isfinite(cv) or cv < 0:
            raise InputError(f"CV must be >= 0, got {cv}", field="bsv_cv")
        omega = math.sqrt(math.log1p(cv * cv))
        params[name] = params[name] * np.exp(rng.normal(0.0, omega, len(weights_kg)))
    return params


def simulate_population(
    model: str | PKModel,
    weights_kg: npt.ArrayLike,
    t_min: npt.ArrayLike,
    *,
    regimen: Regimen | None = None,
    regimen_per_kg: Regimen | None = None,
    seed: int | np.random.Generator | None = None,
    bsv_cv: Mapping[str, float] | None = None,
    dtype: npt.DTypeLike = np.float32,
) -> PopulationPrediction:
    """Sample individual parameters (log-normal BSV where published, or `bsv_cv`) and simulate Cp."""
    pk = resolve_model(model)
    weights = np.atleast_1d(np.asarray(weights_kg, dtype=np.float64))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params = sample_parameters(pk, weights, rng, bsv_cv)
    batch = simulate_batch(
        pk, weights, t_min, regimen=regimen, regimen_per_kg=regimen_per_kg, parameters=params, dtype=dtype
    )
    warnings = list(batch.warnings)
    if not (pk.bsv_cv if bsv_cv is None else bsv_cv):
        warnings.append(
            f"{pk.key} has no published between-subject variability: patients differ by weight only"
        )
    return PopulationPrediction(pk.key, weights, params, batch.t_min, batch.cp_ng_ml, tuple(warnings))


def uniform_weights(
    n: int, low_kg: float, high_kg: float, seed: int | np.random.Generator | None
) -> npt.NDArray[np.float64]:
    """N weights drawn uniformly from [low, high] kg."""
    if n < 1:
        raise InputError(f"need at least one patient, got {n}", field="n")
    if not (0 < low_kg <= high_kg):
        raise InputError(
            f"weight range must be 0 < low <= high, got {low_kg}-{high_kg}", field="weight_kg_range"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.uniform(low_kg, high_kg, n)
