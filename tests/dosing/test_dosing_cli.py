"""CLI: dose plan, dose check, library show, protocols list; bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.cli.output import fail_on_bad_input

runner = CliRunner()
KETACLINIC = str(Path(sys.executable).parent / "ketaclinic")


def run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_dose_plan_json() -> None:
    out = run(
        "dose",
        "plan",
        "--protocol",
        "schwartzman2009",
        "--weight-kg",
        "70",
        "--start",
        "2025-03-03",
        "--json",
    )
    assert out["protocol"] == "schwartzman2009"
    assert len(out["sessions"]) == 10 and out["series_total_mg"] == pytest.approx(980)
    seg = out["sessions"][0]["segments"][0]
    assert (seg["rate_mg_kg_h"], seg["rate_mg_h"], seg["pump_ml_h"], seg["volume_ml"]) == pytest.approx(
        (0.35, 24.5, 24.5, 98.0)
    )
    assert out["sessions"][1]["date"] == "2025-03-04" and out["sessions"][0]["checks"]
    assert [m["drug"] for m in out["premedication"]] == ["midazolam", "clonidine"]


def test_dose_plan_with_the_physicians_choices(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(
        "dose", "plan", "--protocol", "cohen2018-series", "--weight-kg", "80", "--choice", "dose_mg_kg=1",
        "--choice", "sessions=4", "--json",
    )  # fmt: skip
    assert len(out["sessions"]) == 4 and out["choices"]["dose_mg_kg"] == 1.0 and out["soft_breaches"] == []


def test_dose_check_json() -> None:
    out = run(
        "dose", "check", "--rate", "2.5mg/kg/h", "--weight-kg", "80", "--context", "outpatient", "--json"
    )
    assert (out["verdict"], out["limit"], out["limit_kind"]) == ("hard", 2.0, "hard_max")
    assert out["source"]
    soft = run("dose", "check", "--rate", "96mg/h", "--weight-kg", "80", "--context", "outpatient", "--json")
    assert soft["verdict"] == "soft"
    ml = run(
        "dose",
        "check",
        "--rate",
        "30mL/h",
        "--concentration-mg-ml",
        "1",
        "--weight-kg",
        "80",
        "--context",
        "continuous",
        "--json",
    )
    assert (ml["rate_mg_h"], ml["verdict"], ml["pump_ml_h"]) == (30, "soft", 30)
    bolus = run(
        "dose", "check", "--bolus", "0.3mg/kg", "--weight-kg", "80", "--context", "outpatient", "--json"
    )
    assert (bolus["verdict"], bolus["dose_mg"]) == ("ok", pytest.approx(24))
    assert (
        run("dose", "check", "--bolus", "45mg", "--weight-kg", "80", "--context", "outpatient", "--json")[
            "verdict"
        ]
        == "hard"
    )


def test_library_and_protocols() -> None:
    lib = run("library", "show", "--json")
    assert [c["id"] for c in lib["contexts"]] == ["outpatient", "continuous", "outpatient-s", "continuous-s"]
    assert lib["contexts"][0]["limits"]["rate_mg_kg_h"]["hard_max"]["status"] == "local-policy"
    ids = {p["id"] for p in run("protocols", "list", "--json")}
    assert {"valle2024", "cohen2018-test", "sigtermans2009"} <= ids
    text = runner.invoke(app, ["library", "show"])
    assert text.exit_code == 0 and "hard_max" in text.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["dose", "plan", "--protocol", "nope", "--weight-kg", "70", "--json"],
        ["dose", "plan", "--protocol", "valle2024", "--weight-kg", "0", "--json"],
        ["dose", "plan", "--protocol", "valle2024", "--weight-kg", "401", "--json"],
        ["dose", "plan", "--protocol", "valle2024", "--weight-kg", "70", "--concentration-mg-ml", "10"],
        ["dose", "plan", "--protocol", "cleveland2025", "--weight-kg", "300", "--json"],  # hard breach
        ["dose", "plan", "--protocol", "cohen2018-series", "--weight-kg", "70", "--choice", "dose_mg_kg"],
        ["dose", "plan", "--protocol", "cohen2018-series", "--weight-kg", "70", "--choice", "sessions=4.5"],
        ["dose", "plan", "--protocol", "cohen2018-series", "--weight-kg", "70", "--choice", "speed=3"],
        ["dose", "check", "--rate", "2.5mg", "--weight-kg", "80", "--context", "outpatient", "--json"],
        ["dose", "check", "--rate", "2mg/h", "--weight-kg", "80", "--context", "icu", "--json"],
        [
            "dose",
            "check",
            "--rate",
            "25mL/h",
            "--concentration-mg-ml",
            "10",
            "--weight-kg",
            "80",
            "--context",
            "outpatient",
        ],
    ],
)
def test_bad_input_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # in process, through the same mapping `ketaclinic.cli.main` uses (a subprocess per case is slow)
    with pytest.raises(SystemExit) as exc, fail_on_bad_input():
        runner.invoke(app, args, catch_exceptions=False)
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_bad_input_exit_2_real_process() -> None:
    args = ["dose", "check", "--rate", "2.5mg", "--weight-kg", "80", "--context", "outpatient", "--json"]
    result = subprocess.run([KETACLINIC, *args], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
