"""The server under load: the app in uvicorn with N worker processes, and the CPU time its processes use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (uvicorn's workers)."""
    total = 0.0
    for one in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


class Server:
    """`uvicorn ketaclinic.web.app:create_app --factory --workers N` on a free loopback port.

    The app and the server options of `ketaclinic serve --workers N` (each process builds the app from
    the environment), without its one log line per request on stderr.
    """

    def __init__(self, url: str, secret_key: str, workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        env = os.environ | {
            "KETACLINIC_DATABASE_URL": url,
            "KETACLINIC_SECRET_KEY": secret_key,
            "KETACLINIC_VAR_DIR": tempfile.mkdtemp(prefix="kc-bench-var-"),
        }
        command = [sys.executable, "-m", "uvicorn", "ketaclinic.web.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        command += ["--no-access-log", "--timeout-graceful-shutdown", "5"]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.process = subprocess.Popen(command, env=env)

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Until every worker answers /health (each fresh connection may land on any of them)."""
        deadline = time.monotonic() + timeout_s
        answered = 0
        while answered < 3 * self.workers:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("server did not start")
            try:
                ok = httpx.get(f"{self.base}/health", timeout=2).status_code < 500
                started = self.workers == 1 or len(_children(self.process.pid)) >= self.workers
                answered = answered + 1 if ok and started else 0
            except httpx.HTTPError:
                answered = 0
            time.sleep(0.1)

    def cpu_s(self) -> float:
        """CPU seconds the server's processes used so far."""
        return cpu_s(self.process.pid)

    def stop(self) -> None:
        """Stop it as Ctrl-C does (open streams are cut after the grace)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
