"""Shared helpers: an independent reference solution by matrix exponential (SciPy expm)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.linalg import expm

from ketaclinic.pharmacology import PKModel, Regimen


@pytest.fixture
def expm_ref():  # type: ignore[no-untyped-def]
    """The reference solver, as a fixture (test modules cannot import conftest)."""
    return expm_reference


def expm_reference(
    model: PKModel, weight_kg: float, regimen: Regimen, t_min: list[float], ke0: float | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cp and Ce (ng/mL) by stepping the augmented linear system with expm between events."""
    p = model.scaled(weight_kg)
    n = model.compartments
    size = n + 2  # amounts, Ce, and a constant-input slot carrying the rate
    a = np.zeros((size, size))
    v1 = float(p["v1"])
    a[0, 0] = -float(p["cl"]) / v1
    for i in range(1, n):
        q, v = float(p[f"q{i + 1}"]), float(p[f"v{i + 1}"])
        a[0, 0] -= q / v1
        a[0, i] += q / v
        a[i, 0] += q / v1
        a[i, i] -= q / v
    k = ke0 or 0.0
    a[n, 0] = k / v1
    a[n, n] = -k
    a[0, n + 1] = 1.0  # d(amount)/dt += rate (mg/min) held in the last slot
    events = sorted(
        {0.0, *t_min, *(b.t_min for b in regimen.boluses)}
        | {x for i in regimen.infusions for x in (i.start_min, i.end_min)}
    )
    x = np.zeros(size)
    cp, ce = {}, {}
    for j, t in enumerate(events):
        x[0] += sum(b.dose_mg for b in regimen.boluses if b.t_min == t)
        x[n + 1] = sum(i.rate_mg_h / 60 for i in regimen.infusions if i.start_min <= t < i.end_min)
        cp[t], ce[t] = x[0] / v1 * 1000, x[n] * 1000
        if j + 1 < len(events):
            x = expm(a * (events[j + 1] - t)) @ x
    return np.array([cp[t] for t in t_min]), np.array([ce[t] for t in t_min])
