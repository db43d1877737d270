"""Time a whole command as a user runs it: a fresh process, its wall time and its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence

KETACLINIC = [sys.executable, "-m", "ketaclinic"]


def run_once(argv: Sequence[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one run of `argv`, its output discarded; it must succeed."""
    start = time.perf_counter()
    child = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        message = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {message}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def best_of(argv: Sequence[str], runs: int) -> tuple[float, float, float, float]:
    """(best, median, worst seconds, largest peak MB) over `runs` runs."""
    timings = sorted(run_once(argv) for _ in range(runs))
    seconds = [s for s, _ in timings]
    return seconds[0], seconds[len(seconds) // 2], seconds[-1], max(mb for _, mb in timings)
