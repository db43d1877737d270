"""Time a whole command as a user runs it: a fresh process, its wall time and its peak memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

KETACLINIC = [sys.executable, "-m", "ketaclinic"]
GNU_TIME = "/usr/bin/time"


def run_once(
    argv: Sequence[str], env: Mapping[str, str] | None = None, *, via_time: bool = False
) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one run of `argv`, its output discarded; it must succeed.

    A child's peak as wait4 reports it starts from its parent's size when forked (Linux keeps the
    high-water mark across exec). With `via_time` the command runs under GNU time, whose own small
    process forks it, and the peak is the one time reports: right however large this process is.
    """
    command = list(argv)
    if via_time and shutil.which(GNU_TIME):
        command = [GNU_TIME, "-f", "%M", *command]
    else:
        via_time = False
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    message = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {message}")
    if via_time:
        return seconds, int(message.strip().splitlines()[-1]) / 1024  # GNU time's %M is in KiB
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def best_of(
    argv: Sequence[str], runs: int, env: Mapping[str, str] | None = None, *, via_time: bool = False
) -> tuple[float, float, float, float]:
    """(best, median, worst seconds, largest peak MB) over `runs` runs (`env`: the children's environment)."""
    timings = sorted(run_once(argv, env, via_time=via_time) for _ in range(runs))
    seconds = [s for s, _ in timings]
    return seconds[0], seconds[len(seconds) // 2], seconds[-1], max(mb for _, mb in timings)
