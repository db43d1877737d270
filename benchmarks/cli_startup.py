"""Benchmark: what a terminal user waits for, each command in a fresh process.

    python benchmarks/cli_startup.py [--runs 5]

`ketaclinic --help` (best of --runs) and `ketaclinic pk simulate` for one patient (best of 3), with
the median, the worst and the peak memory; beside them, where PyTCI is installed (the benchmark
environment only), a fresh process that imports PyTCI and simulates the same patient.
"""

from __future__ import annotations

import argparse
import os
import sys

from process_timing import KETACLINIC, best_of

SIMULATE = [
    *("pk", "simulate", "--model", "domino1984", "--weight-kg", "70"),
    *("--infusion", "0.5mg/kg/h@0-240", "--until", "240", "--step-s", "60", "--json"),
]
# The same patient in PyTCI: Domino as a custom three-compartment model (the parameters of
# ketaclinic's domino1984, passed in), Cp every minute for 4 h.
PYTCI_SIMULATE = """
import sys
from PyTCI.models.base import Three
v1, k10, k12, k13, k21, k31 = map(float, sys.argv[1:])
class Domino(Three):
    def __init__(self):
        self.v1, self.k10, self.k12, self.k13, self.k21, self.k31 = v1, k10, k12, k13, k21, k31
        self.keo = 0.238
        Three.setup(self)
        self.set_integrator("exact")
model = Domino()
[model.giveoverseconds(0.5 * 70 / 3600.0, 60) for _ in range(240)]
"""


def domino_70kg() -> list[str]:
    """V1 (L) and the rate constants (1/min) of ketaclinic's domino1984 at 70 kg, as PyTCI takes them."""
    from ketaclinic.pharmacology import get_model

    model = get_model("domino1984")
    p = model.parameters
    v1 = p["v1"] / model.reference_weight_kg * 70.0
    rates = [p["cl"] / p["v1"], p["q2"] / p["v1"], p["q3"] / p["v1"], p["q2"] / p["v2"], p["q3"] / p["v3"]]
    return [repr(v) for v in (v1, *rates)]


def report(label: str, argv: list[str], runs: int) -> None:
    """Print one command's figures on one line."""
    best, median, worst, peak_mb = best_of(argv, runs)
    print(f"{label:<44} best {best:.2f} s  median {median:.2f} s  worst {worst:.2f} s  peak {peak_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}")
    report(f"ketaclinic --help (of {args.runs})", [*KETACLINIC, "--help"], args.runs)
    report("ketaclinic pk simulate, one patient (of 3)", [*KETACLINIC, *SIMULATE], 3)
    try:
        import PyTCI  # noqa: F401
    except ImportError:
        print("PyTCI not installed in this environment: comparison skipped (see benchmarks/run.sh)")
        return
    report("PyTCI 1.2.0, the same patient (of 3)", [sys.executable, "-c", PYTCI_SIMULATE, *domino_70kg()], 3)


if __name__ == "__main__":
    main()
