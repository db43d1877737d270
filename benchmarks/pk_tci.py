"""Benchmark: effect-site TCI (Shafer & Gregg 1992), Domino with ke0 0.238 /min, 120 ng/mL, 10-s updates.

ketaclinic plans 4 h (target < 50 ms); PyTCI 1.2.0's `effect_target` (exact mode, Domino as a
custom three-compartment model) plans a shorter horizon for comparison, and the two schedules are
compared over that horizon. Run in the benchmark venv (see pk_population.py):

    .venv-bench/bin/python benchmarks/pk_tci.py [--pytci-minutes 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pk_population import machine

from ketaclinic.pharmacology import get_model, tci_effect

TARGET_NG_ML = 120.0
WEIGHT_KG = 70.0
KE0_PER_MIN = 0.238


def pytci_rates_mg_h(minutes: int) -> np.ndarray:
    """PyTCI's effect_target rates for the first `minutes` (mg/h per 10-s interval)."""
    from PyTCI.models.base import Three  # the benchmark venv only

    p = get_model("domino1984").scaled(WEIGHT_KG)

    class Domino(Three):  # type: ignore[misc]
        def __init__(self) -> None:
            self.v1 = float(p["v1"])
            self.k10, self.k12, self.k13 = (float(p[k]) / self.v1 for k in ("cl", "q2", "q3"))
            self.k21, self.k31 = float(p["q2"] / p["v2"]), float(p["q3"] / p["v3"])
            self.keo = KE0_PER_MIN
            Three.setup(self)
            self.set_integrator("exact")

    rates_mg_s = Domino().effect_target(TARGET_NG_ML / 1000.0, minutes * 60, 10)
    return np.array(rates_mg_s) * 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pytci-minutes", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = tci_effect("domino1984", WEIGHT_KG, TARGET_NG_ML, args.minutes, ke0_per_min=KE0_PER_MIN)
        times.append(time.perf_counter() - start)
    ce = result.prediction.ce_ng_ml
    assert ce is not None
    print(
        f"ketaclinic tci_effect, {args.minutes} min at 10-s updates: best {min(times) * 1e3:.1f} ms, "
        f"median {np.median(times) * 1e3:.1f} ms; {len(result.segments)} segments, "
        f"{result.total_mg:.2f} mg, max Ce {ce.max():.4f} ng/mL"
    )
    try:
        import PyTCI  # noqa: F401
    except ImportError:
        print("PyTCI not installed in this environment: comparison skipped")
        return
    start = time.perf_counter()
    theirs = pytci_rates_mg_h(args.pytci_minutes)
    elapsed = time.perf_counter() - start
    ours = tci_effect("domino1984", WEIGHT_KG, TARGET_NG_ML, args.pytci_minutes, ke0_per_min=KE0_PER_MIN)
    mine = np.repeat(
        [s.rate_mg_h for s in ours.segments], [round((s.end_min - s.start_min) * 6) for s in ours.segments]
    )
    print(
        f"PyTCI 1.2.0 effect_target, {args.pytci_minutes} min: {elapsed:.2f} s "
        f"({elapsed / args.pytci_minutes * 60:.1f} s per simulated hour)"
    )
    print(
        f"  total dose PyTCI {theirs.sum() / 360:.3f} mg vs ketaclinic {ours.total_mg:.3f} mg; "
        f"max |rate difference| {np.max(np.abs(theirs - mine[: len(theirs)])):.3g} mg/h"
    )
    ratio = (elapsed / args.pytci_minutes) / (min(times) / args.minutes)
    print(f"  per simulated hour: PyTCI / ketaclinic = {ratio:,.0f}x")


if __name__ == "__main__":
    main()
