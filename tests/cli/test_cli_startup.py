"""A command loads only what it uses: the CLI starts without the PK engine, the database or the web."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "scipy", "sqlalchemy", "fastapi", "jinja2", "statsmodels", "duckdb")

_LOADED = """
import contextlib, io, json, sys
from ketaclinic.cli import app
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    app(sys.argv[1:], prog_name="ketaclinic")
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def _heavy_modules_loaded(*args: str) -> list[str]:
    script = _LOADED.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_help_loads_no_heavy_library() -> None:
    assert _heavy_modules_loaded("--help") == []


def test_a_command_group_help_loads_no_heavy_library() -> None:
    for group in ("pk", "dose", "audit", "monitor", "cohort", "user"):
        assert _heavy_modules_loaded(group, "--help") == [], group


def test_a_population_loads_numpy_but_neither_scipy_nor_the_database() -> None:
    args = ["pk", "population", "--model", "domino1984", "--n", "20", "--weight-kg-range", "50-60"]
    args += ["--infusion", "0.5mg/kg/h@0-60", "--until", "60", "--step-s", "60", "--report-times", "30,60"]
    assert _heavy_modules_loaded(*args, "--json") == ["numpy"]
