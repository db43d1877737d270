"""Exact simulation of linear mammillary models under piecewise-constant input, many patients at once.

Algorithm (the STANPUMP scheme in eigen coordinates, shared/reference section 3):

1. For each patient build the rate matrix, take its eigenvalues lambda_i (batched `eigvals`) and the
   coefficients A_i of the unit impulse response of Cp, A_i = prod_j (k_j1 - lambda_i) / (V1 prod_m
   (lambda_m - lambda_i)). The effect site adds the rate ke0 with coefficients B_i = A_i ke0 /
   (ke0 - lambda_i) and -sum B_i.
2. Keep one state per exponential, u_j = integral of input(tau) exp(-r_j (t - tau)): a bolus adds its
   dose; over a piece with rate R it moves exactly to R/r_j + (u_j - R/r_j) exp(-r_j dt).
3. Inside a piece C(t) = c0 + sum_j c_j exp(-r_j (t - t_k)); on a uniform grid exp(-r (t0 + (bL+l)h))
   = exp(-r (t0 + bLh)) exp(-r l h), so a piece of P points costs O(sqrt P) exponentials per patient
   and one small matrix product per patient that writes straight into the output.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from ketaclinic.errors import InputError
from ketaclinic.pharmacology.models import PKModel
from ketaclinic.pharmacology.regimen import Regimen

FloatArray = npt.NDArray[np.float64]
NG_ML_PER_MG_L = 1000.0
_CHUNK_PATIENTS = 256
_MIN_UNIFORM_POINTS = 64
_CPUS = os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Disposition:
    """Sum-of-exponentials form for N patients: decay rates r (N, m) 1/min; ng/mL per mg of state."""

    rates_per_min: FloatArray
    cp_coef: FloatArray
    ce_coef: FloatArray | None


def _as_column(value: npt.ArrayLike, n: int) -> FloatArray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)


def rate_matrices(model: PKModel, params: Mapping[str, npt.ArrayLike], n: int) -> FloatArray:
    """K (n, c, c) with d(amounts)/dt = -K amounts, amounts in mg, central compartment first."""
    v1 = _as_column(params["v1"], n)
    size = model.compartments
    matrix = np.zeros((n, size, size))
    matrix[:, 0, 0] = _as_column(params["cl"], n) / v1
    for i in range(1, size):
        q = _as_column(params[f"q{i + 1}"], n)
        matrix[:, 0, 0] += q / v1
        matrix[:, 0, i] = -q / _as_column(params[f"v{i + 1}"], n)
        matrix[:, i, 0] = -q / v1
        matrix[:, i, i] = q / _as_column(params[f"v{i + 1}"], n)
    return matrix


def disposition(
    model: PKModel,
    weights_kg: npt.ArrayLike,
    *,
    parameters: Mapping[str, npt.ArrayLike] | None = None,
    ke0_per_min: npt.ArrayLike | None = None,
) -> Disposition:
    """Exponents and coefficients for each weight (optionally with individual parameters and ke0)."""
    weights = np.atleast_1d(np.asarray(weights_kg, dtype=np.float64))
    n = len(weights)
    params = model.scaled(weights) if parameters is None else parameters
    v1 = _as_column(params["v1"], n)
    matrix = rate_matrices(model, params, n)
    size = model.compartments
    # mammillary matrices are similar to symmetric ones: the eigenvalues are real and distinct
    lam = np.sort(np.linalg.eigvals(matrix).real, axis=1)[:, ::-1]
    num = np.ones_like(lam)
    for i in range(1, size):
        num = num * (matrix[:, i, i, None] - lam)  # k_i1 - lambda
    den = np.ones_like(lam)
    for i in range(size):
        for m in range(size):
            if m != i:
                den[:, i] *= lam[:, m] - lam[:, i]
    cp = NG_ML_PER_MG_L * num / (v1[:, None] * den)
    if ke0_per_min is None:
        return Disposition(lam, cp, None)
    ke0 = _as_column(ke0_per_min, n)
    # ke0 equal to an eigenvalue makes the closed form singular; a 1e-7 relative nudge keeps it exact
    # to ~1e-7 relative (the limit is a t exp(-k t) term).
    close = np.any(np.abs(lam - ke0[:, None]) < 1e-9 * ke0[:, None], axis=1)
    ke0 = np.where(close, ke0 * (1.0 + 1e-7), ke0)
    b = cp * ke0[:, None] / (ke0[:, None] - lam)
    rates = np.concatenate([lam, ke0[:, None]], axis=1)
    cp_full = np.concatenate([cp, np.zeros((n, 1))], axis=1)
    ce = np.concatenate([b, -b.sum(axis=1, keepdims=True)], axis=1)
    return Disposition(rates, cp_full, ce)


def check_times(t_min: npt.ArrayLike) -> FloatArray:
    """A 1-D, finite, non-negative, non-decreasing time grid (min)."""
    t = np.atleast_1d(np.asarray(t_min, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise InputError("times must be a non-empty list of minutes", field="times")
    if not np.all(np.isfinite(t)) or t[0] < 0:
        raise InputError("times must be finite and >= 0 min", field="times")
    if np.any(np.diff(t) < 0):
        raise InputError("times must be sorted in increasing order", field="times")
    return t


def _is_uniform(tau: FloatArray) -> bool:
    if len(tau) < _MIN_UNIFORM_POINTS:
        return False
    step = (tau[-1] - tau[0]) / (len(tau) - 1)
    return step > 0 and bool(np.allclose(np.diff(tau), step, rtol=1e-9, atol=1e-12 * max(1.0, tau[-1])))


def _sum_exp_direct(c0: FloatArray, c: FloatArray, r: FloatArray, tau: FloatArray, out: np.ndarray) -> None:
    """out[n, p] = c0[n] + sum_j c[n, j] exp(-r[n, j] tau[p]) by direct exponentials."""
    acc = np.repeat(c0[:, None], len(tau), axis=1)
    for j in range(r.shape[1]):
        acc += c[:, j, None] * np.exp(-r[:, j, None] * tau[None, :])
    out[...] = acc


def _sum_exp_uniform(c0: FloatArray, c: FloatArray, r: FloatArray, tau: FloatArray, out: np.ndarray) -> None:
    """As `_sum_exp_direct` on a uniform grid: block factorisation and one small matmul per patient."""
    points = len(tau)
    step = (tau[-1] - tau[0]) / (points - 1)
    width = math.isqrt(points - 1) + 1
    blocks = points // width
    n, m = r.shape
    left = np.empty((n, blocks, m + 1))
    left[:, :, 0] = c0[:, None]
    starts = tau[0] + np.arange(blocks) * (width * step)
    left[:, :, 1:] = (c[:, :, None] * np.exp(-r[:, :, None] * starts[None, None, :])).transpose(0, 2, 1)
    right = np.empty((n, m + 1, width))
    right[:, 0, :] = 1.0
    right[:, 1:, :] = np.exp(-r[:, :, None] * (np.arange(width) * step)[None, None, :])
    head = out[:, : blocks * width]
    view = as_strided(
        head, shape=(n, blocks, width), strides=(head.strides[0], width * head.strides[1], head.strides[1])
    )
    np.matmul(left.astype(out.dtype, copy=False), right.astype(out.dtype, copy=False), out=view)
    if blocks * width < points:
        _sum_exp_direct(c0, c, r, tau[blocks * width :], out[:, blocks * width :])


def sum_of_exponentials(
    c0: FloatArray, c: FloatArray, r: FloatArray, tau: FloatArray, out: np.ndarray
) -> None:
    """Fill out (N, P) with c0 + sum_j c_j exp(-r_j tau), in patient chunks, two threads when large."""
    kernel = _sum_exp_uniform if _is_uniform(tau) else _sum_exp_direct
    n = len(c0)
    if n <= _CHUNK_PATIENTS:
        kernel(c0, c, r, tau, out)
        np.maximum(out, 0.0, out=out)
        return
    chunks = [slice(i, min(i + _CHUNK_PATIENTS, n)) for i in range(0, n, _CHUNK_PATIENTS)]

    def run(s: slice) -> None:
        kernel(c0[s], c[s], r[s], tau, out[s])
        # concentrations are non-negative; rounding in the cancelling sum can leave -1e-13
        np.maximum(out[s], 0.0, out=out[s])

    workers = min(len(chunks), _CPUS)
    if workers > 1 and out.size > 1_000_000:
        # NumPy releases the GIL in exp and matmul, so threads use both cores
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, chunks))
    else:
        for s in chunks:
            run(s)


@dataclass(frozen=True, slots=True)
class DoseArrays:
    """Per-patient input on the pieces between breakpoints: bolus at each breakpoint, rate after it."""

    breakpoints_min: FloatArray
    bolus_mg: FloatArray
    rate_mg_min: FloatArray


def dose_arrays(
    regimen: Regimen, weights_kg: FloatArray, regimen_per_kg: Regimen | None = None
) -> DoseArrays:
    """Input of `regimen` (mg, mg/h) plus weight x `regimen_per_kg` (mg/kg, mg/kg/h) per patient."""
    per_kg = regimen_per_kg or Regimen()
    bp = np.union1d(regimen.breakpoints(), per_kg.breakpoints())
    w = weights_kg[:, None]
    bolus = regimen.bolus_mg_at(bp)[None, :] + w * per_kg.bolus_mg_at(bp)[None, :]
    rate = regimen.rate_mg_min_on(bp)[None, :] + w * per_kg.rate_mg_min_on(bp)[None, :]
    return DoseArrays(bp, bolus, rate)


def evaluate(
    disp: Disposition,
    doses: DoseArrays,
    t_min: FloatArray,
    *,
    dtype: npt.DTypeLike = np.float64,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cp and Ce (ng/mL, shape (N, T)) on the grid; the loop runs over regimen breakpoints only.

    `out`, when given, is a preallocated (N, T) float array that receives Cp.
    """
    n, m = disp.rates_per_min.shape
    if out is not None and (out.shape != (n, len(t_min)) or out.dtype.kind != "f"):
        raise InputError(f"out must be a float array of shape {(n, len(t_min))}", field="out")
    cp = np.empty((n, len(t_min)), dtype=dtype) if out is None else out
    ce = None if disp.ce_coef is None else np.empty((n, len(t_min)), dtype=dtype)
    r = disp.rates_per_min
    u = np.zeros((n, m))
    bp = doses.breakpoints_min
    for k, start in enumerate(bp):
        end = bp[k + 1] if k + 1 < len(bp) else math.inf
        u += doses.bolus_mg[:, k, None]
        steady = doses.rate_mg_min[:, k, None] / r  # the state a constant rate tends to
        lo, hi = np.searchsorted(t_min, [start, end], side="left")
        if hi > lo:
            tau = t_min[lo:hi] - start
            for coef, out in ((disp.cp_coef, cp), (disp.ce_coef, ce)):
                if coef is not None and out is not None:
                    sum_of_exponentials(
                        (coef * steady).sum(axis=1), coef * (u - steady), r, tau, out[:, lo:hi]
                    )
        if math.isfinite(end):
            u = steady + (u - steady) * np.exp(-r * (end - start))
    return cp, ce
