"""Benchmark: 10,000 patients, Domino, 0.5 mg/kg/h for 4 h, Cp every second (14,400 points each).

Run in the benchmark's own environment (PyTCI must not enter the project venv):

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -e /work/main -r benchmarks/requirements-bench.txt
    .venv-bench/bin/python benchmarks/pk_population.py [--patients 10000] [--pytci-patients 3]

Prints the ketaclinic timings (first call including the 576 MB output allocation, then repeated calls
writing into one preallocated float32 array), the whole `ketaclinic pk population` command as a user
runs it (a fresh process each time: best, median and worst of 3, peak memory), the accuracy against
the reference table, and PyTCI 1.2.0 (exact mode, Domino entered as a custom three-compartment
model) on a few patients with the ratios. Without PyTCI installed the comparison is skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from process_timing import KETACLINIC, best_of

from ketaclinic.pharmacology import Infusion, Regimen, get_model, simulate_batch

SECONDS = 4 * 3600
RATE_MG_KG_H = 0.5
DOMINO_60_240 = {60: 176.485, 120: 214.679, 240: 259.733}  # reference section 4, 70 kg


def machine() -> str:
    """nproc, CPU model, Python and NumPy versions."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, NumPy {np.__version__}"


def run_ketaclinic(patients: int, repeats: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(first-call seconds, best repeated seconds, weights, Cp)."""
    weights = np.random.default_rng(2024).uniform(50, 110, patients)
    t = np.arange(1, SECONDS + 1) / 60.0
    per_kg = Regimen(infusions=(Infusion(0, 240, RATE_MG_KG_H),))
    start = time.perf_counter()
    first = simulate_batch("domino1984", weights, t, regimen_per_kg=per_kg, dtype=np.float32)
    first_s = time.perf_counter() - start
    out = first.cp_ng_ml
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        simulate_batch("domino1984", weights, t, regimen_per_kg=per_kg, out=out)
        best = min(best, time.perf_counter() - start)
    return first_s, best, weights, out


def population_command(patients: int) -> list[str]:
    """The command a user runs for the same job: percentiles at 1, 2 and 4 h and the median peak."""
    return [
        *KETACLINIC,
        *("pk", "population", "--model", "domino1984", "--n", str(patients), "--weight-kg-range", "50-110"),
        *("--infusion", f"{RATE_MG_KG_H}mg/kg/h@0-240", "--until", "240", "--step-s", "1"),
        *("--report-times", "60,120,240", "--seed", "1", "--json"),
    ]


def pytci_patient(weight_kg: float) -> np.ndarray:
    """One patient with PyTCI 1.2.0 in exact mode, Cp (ng/mL) every second."""
    from PyTCI.models.base import Three  # the benchmark venv only

    domino = get_model("domino1984")

    class Domino(Three):  # type: ignore[misc]
        def __init__(self, weight: float) -> None:
            self.v1 = domino.parameters["v1"] / domino.reference_weight_kg * weight
            p = domino.parameters
            self.k10, self.k12, self.k13 = p["cl"] / p["v1"], p["q2"] / p["v1"], p["q3"] / p["v1"]
            self.k21, self.k31 = p["q2"] / p["v2"], p["q3"] / p["v3"]
            self.keo = 0.238
            Three.setup(self)
            self.set_integrator("exact")

    model = Domino(weight_kg)
    rate_mg_s = RATE_MG_KG_H * weight_kg / 3600.0
    return np.array([model.giveoverseconds(rate_mg_s, 1) for _ in range(SECONDS)]) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pytci-patients", type=int, default=3)
    parser.add_argument(
        "--no-hugepage",
        action="store_true",
        help="turn off NumPy's madvise(MADV_HUGEPAGE) for large arrays (first-touch cost on some VMs)",
    )
    args = parser.parse_args()
    if args.no_hugepage:
        # Private but stable since NumPy 1.20; untyped in NumPy's stubs.
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]

        _set_madvise_hugepage(False)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}; hugepage {not args.no_hugepage}")
    # The whole command first: a child forked from this process once it holds the 576 MB output
    # would count those pages in its peak memory.
    command = population_command(args.patients)
    whole_s, median_s, worst_s, peak_mb = best_of(command, 3)
    print(f"ketaclinic, the whole command: `{' '.join(command[2:])}`")
    print(
        f"  whole command, fresh process each run: best {whole_s:.2f} s, median {median_s:.2f} s, "
        f"worst {worst_s:.2f} s of 3; peak memory {peak_mb:.0f} MB"
    )
    first_s, best_s, weights, cp = run_ketaclinic(args.patients, args.repeats)
    mb = cp.nbytes / 1e6
    print(f"ketaclinic: {args.patients} patients x {SECONDS} points, float32 output {mb:.0f} MB")
    print(f"  first call (allocates the output): {first_s:.3f} s")
    print(
        f"  best of {args.repeats} into a preallocated output: {best_s:.3f} s "
        f"({best_s / args.patients * 1e6:.1f} us per patient)"
    )
    one = simulate_batch(
        "domino1984",
        [70.0],
        np.array(list(DOMINO_60_240)) * 1.0,
        regimen_per_kg=Regimen(infusions=(Infusion(0, 240, RATE_MG_KG_H),)),
    )
    error = max(abs(float(c) - ref) for c, ref in zip(one.cp_ng_ml[0], DOMINO_60_240.values(), strict=True))
    print(f"  accuracy vs reference table at 70 kg: max |error| {error:.2e} ng/mL")

    try:
        import PyTCI  # noqa: F401
    except ImportError:
        print("PyTCI not installed in this environment: comparison skipped (see the module docstring)")
        return
    n = min(args.pytci_patients, args.patients)
    start = time.perf_counter()
    worst = 0.0
    for i in range(n):
        reference = pytci_patient(float(weights[i]))
        worst = max(worst, float(np.max(np.abs(reference - cp[i]))))
    per_patient = (time.perf_counter() - start) / n
    print(
        f"PyTCI 1.2.0 exact: {per_patient:.3f} s per patient ({n} patients), "
        f"{per_patient * args.patients:.0f} s extrapolated to {args.patients}"
    )
    print(f"  max |PyTCI - ketaclinic| over those patients: {worst:.2e} ng/mL")
    print(f"  per-patient ratio PyTCI / ketaclinic (best): {per_patient / (best_s / args.patients):,.0f}x")
    whole_ratio = per_patient * args.patients / whole_s
    print(f"  PyTCI for all {args.patients} patients / the whole ketaclinic command: {whole_ratio:,.0f}x")


if __name__ == "__main__":
    main()
