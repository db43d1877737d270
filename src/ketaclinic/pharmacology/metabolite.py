"""Metabolite (S-norketamine) concentrations where a published metabolite model sits on a parent model.

The parent's elimination clearance feeds the metabolite's central compartment (fraction metabolised
fm, molar). Amounts are tracked in mg of parent and reported in nmol/L with the ketamine molecular
weight (237.73 g/mol, shared/reference), so no metabolite molecular weight is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, NotFoundError
from ketaclinic.pharmacology.engine import Disposition, check_times, dose_arrays, evaluate, rate_matrices
from ketaclinic.pharmacology.models import PKModel, check_patient, resolve_model
from ketaclinic.pharmacology.regimen import Regimen

KETAMINE_G_PER_MOL = 237.73
_NMOL_L_PER_MG_L = 1e6 / KETAMINE_G_PER_MOL


@dataclass(frozen=True, slots=True)
class MetaboliteModel:
    """A 2-compartment metabolite model (volumes L, clearances L/min; not weight-scaled)."""

    parent_key: str
    name: str
    v1_l: float
    v2_l: float
    cl_l_min: float
    q2_l_min: float
    fraction_metabolised: float
    citation: str
    source: str
    status: Status
    scaling_note: str


@dataclass(frozen=True, slots=True)
class MetabolitePrediction:
    """Metabolite concentrations (nmol/L) for one patient."""

    model_key: str
    metabolite: str
    weight_kg: float
    t_min: npt.NDArray[np.float64]
    conc_nmol_l: npt.NDArray[np.float64]
    warnings: tuple[str, ...]


def _positive(row: Mapping[str, Any], name: str, where: str) -> float:
    value = row.get(name)
    if not isinstance(value, int | float) or not value > 0:
        raise DataFileError(f"{where}: {name} must be a positive number")
    return float(value)


def get_metabolite_model(model: str | PKModel) -> MetaboliteModel:
    """The metabolite model published on this parent model; NotFoundError if there is none."""
    pk = resolve_model(model)
    row = load_toml("pk_models.toml")[pk.key].get("metabolite")
    if row is None:
        have = [k for k, v in load_toml("pk_models.toml").items() if "metabolite" in v]
        raise NotFoundError(
            f"no metabolite model for {pk.key}; available for: {', '.join(have)}", field="model"
        )
    where = f"pk_models.toml [{pk.key}.metabolite]"
    fm = _positive(row, "fraction_metabolised", where)
    if fm > 1:
        raise DataFileError(f"{where}: fraction_metabolised must be <= 1")
    return MetaboliteModel(
        pk.key,
        str(row["name"]),
        _positive(row, "v1_l", where),
        _positive(row, "v2_l", where),
        _positive(row, "cl_l_h", where) / 60.0,
        _positive(row, "q2_l_h", where) / 60.0,
        fm,
        str(row["citation"]),
        str(row["source"]),
        parse_status(row.get("status"), where),
        str(row.get("scaling_note", "")),
    )


def metabolite_disposition(model: PKModel, metabolite: MetaboliteModel, weight_kg: float) -> Disposition:
    """Exponentials of the joined parent + metabolite system, read in the metabolite's central compartment."""
    p = model.scaled(weight_kg)
    n = model.compartments
    size = n + 2
    k = np.zeros((size, size))  # d(amount)/dt = k @ amount, amounts in mg of parent
    k[:n, :n] = -rate_matrices(model, p, 1)[0]
    v1 = float(p["v1"])
    m1, m2 = n, n + 1
    k[m1, 0] = metabolite.fraction_metabolised * float(p["cl"]) / v1
    k[m1, m1] = -(metabolite.cl_l_min + metabolite.q2_l_min) / metabolite.v1_l
    k[m1, m2] = metabolite.q2_l_min / metabolite.v2_l
    k[m2, m1] = metabolite.q2_l_min / metabolite.v1_l
    k[m2, m2] = -metabolite.q2_l_min / metabolite.v2_l
    eigenvalues, vectors = np.linalg.eig(k)
    # unit bolus into the parent's central compartment, read in the metabolite's central compartment
    weights = np.linalg.solve(vectors, np.eye(size)[:, 0])
    coef = (vectors[m1, :] * weights).real / metabolite.v1_l * _NMOL_L_PER_MG_L
    return Disposition(-eigenvalues.real[None, :], coef[None, :], None)


def simulate_metabolite(
    model: str | PKModel,
    weight_kg: float,
    regimen: Regimen,
    t_min: npt.ArrayLike,
    *,
    age_y: float | None = None,
) -> MetabolitePrediction:
    """Metabolite concentrations (nmol/L) for one patient given the parent regimen.

    Examples
    --------
    >>> from ketaclinic.pharmacology import Infusion, Regimen
    >>> p = simulate_metabolite("fanta2015_s", 70, Regimen(infusions=(Infusion(0, 60, 20),)), [0, 60])
    >>> p.metabolite, abs(float(p.conc_nmol_l[0])) < 1e-9, bool(p.conc_nmol_l[1] > 0)
    ('S-norketamine', True, True)
    """
    pk = resolve_model(model)
    metabolite = get_metabolite_model(pk)
    warnings = check_patient(pk, weight_kg, age_y)
    t = check_times(t_min)
    weights = np.array([float(weight_kg)])
    conc, _ = evaluate(metabolite_disposition(pk, metabolite, weight_kg), dose_arrays(regimen, weights), t)
    return MetabolitePrediction(pk.key, metabolite.name, float(weight_kg), t, conc[0], warnings)
