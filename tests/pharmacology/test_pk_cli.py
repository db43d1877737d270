"""`ketaclinic pk ...` through the Typer app, and bad input through the real entry point (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.errors import InputError, NotFoundError

runner = CliRunner()
KETACLINIC = str(Path(sys.executable).parent / "ketaclinic")


def _json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["pk", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_models_json_lists_every_model_with_sources() -> None:
    models = json.loads(runner.invoke(app, ["pk", "models", "--json"]).stdout)
    assert [m["key"] for m in models][:2] == ["domino1984", "clements1981"]
    assert all(m["citation"] and m["status"] for m in models)


def test_simulate_json_reproduces_the_domino_table() -> None:
    out = _json(
        "simulate",
        "--model",
        "domino1984",
        "--weight-kg",
        "70",
        "--infusion",
        "0.5mg/kg/h@0-240",
        "--times",
        "1,60,240",
        "--json",
    )
    assert out["model"] == "domino1984" and out["weight_kg"] == 70 and out["warnings"] == []
    assert [round(p["cp_ng_ml"], 3) for p in out["points"]] == [67.020, 176.485, 259.733]
    assert all("ce_ng_ml" in p for p in out["points"])


def test_simulate_mg_per_h_equals_mg_per_kg_per_h_and_boluses_add() -> None:
    a = _json(
        "simulate",
        "--model",
        "kamp2020",
        "--weight-kg",
        "70",
        "--infusion",
        "35mg/h@0-240",
        "--bolus",
        "10mg@0",
        "--bolus",
        "0.1mg/kg@30",
        "--until",
        "60",
        "--step-s",
        "600",
        "--json",
    )
    b = _json(
        "simulate",
        "--model",
        "kamp2020",
        "--weight-kg",
        "70",
        "--infusion",
        "0.5mg/kg/h@0-240",
        "--bolus",
        "17mg@0",
        "--until",
        "60",
        "--step-s",
        "600",
        "--json",
    )
    assert [p["t_min"] for p in a["points"]] == [0, 10, 20, 30, 40, 50, 60]
    assert a["points"][1]["cp_ng_ml"] < b["points"][1]["cp_ng_ml"]  # 10 mg vs 17 mg at t = 0
    assert a["points"][4]["cp_ng_ml"] > b["points"][4]["cp_ng_ml"] - 50  # plus 7 mg at 30 min


def test_simulate_csv_without_ke0_has_no_ce_column_and_warnings_reach_stderr() -> None:
    result = runner.invoke(
        app,
        [
            "pk",
            "simulate",
            "--model",
            "hijazi2003",
            "--weight-kg",
            "70",
            "--age-y",
            "40",
            "--bolus",
            "35mg@0",
            "--times",
            "0,1",
            "--csv",
        ],
    )
    assert result.stdout.splitlines()[0] == "t_min,cp_ng_ml"
    warned = runner.invoke(
        app,
        [
            "pk",
            "simulate",
            "--model",
            "herd2007",
            "--weight-kg",
            "70",
            "--age-y",
            "40",
            "--bolus",
            "35mg@0",
            "--times",
            "1",
            "--json",
        ],
    )
    assert any("above" in w for w in json.loads(warned.stdout)["warnings"])


def test_population_reports_ordered_percentiles_and_is_seedable() -> None:
    args = [
        "population",
        "--model",
        "herd2007",
        "--n",
        "300",
        "--weight-kg-range",
        "15-40",
        "--infusion",
        "0.5mg/kg/h@0-240",
        "--until",
        "240",
        "--step-s",
        "60",
        "--seed",
        "4",
        "--report-times",
        "60,120,240",
        "--json",
    ]
    out = _json(*args)
    assert [r["t_min"] for r in out["percentiles"]] == [60, 120, 240]
    assert all(r["p5_ng_ml"] < r["p50_ng_ml"] < r["p95_ng_ml"] for r in out["percentiles"])
    assert _json(*args) == out


def test_tci_json_has_segments_total_and_points() -> None:
    out = _json(
        "tci",
        "--model",
        "domino1984",
        "--weight-kg",
        "70",
        "--target-ng-ml",
        "120",
        "--site",
        "effect",
        "--duration-min",
        "30",
        "--max-rate-mg-h",
        "1200",
        "--json",
    )
    assert out["segments"][0]["start_min"] == 0 and out["segments"][-1]["end_min"] == pytest.approx(30)
    assert max(s["rate_mg_h"] for s in out["segments"]) <= 1200
    assert out["total_mg"] > 0 and max(p["ce_ng_ml"] for p in out["points"]) <= 120 * (1 + 1e-6)
    practical = _json(
        "tci",
        "--model",
        "domino1984",
        "--weight-kg",
        "70",
        "--target-ng-ml",
        "120",
        "--site",
        "plasma",
        "--duration-min",
        "60",
        "--practical",
        "--json",
    )
    assert "max_deviation_pct" in practical and len(practical["segments"]) <= 6


BAD = [
    ["simulate", "--model", "nope", "--weight-kg", "70", "--times", "1"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--infusion", "5mgh@0-3", "--times", "1"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--times", "5,1"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--until", "inf", "--step-s", "60"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--until", "60", "--step-s", "0"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--until", "1e6", "--step-s", "0.001"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--times", "1", "--until", "60"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--until", "60"],
    [
        "population",
        "--model",
        "domino1984",
        "--n",
        "2",
        "--weight-kg-range",
        "50-60",
        "--until",
        "10",
        "--step-s",
        "60",
        "--report-times",
        "nan",
    ],
    ["simulate", "--model", "domino1984", "--weight-kg", "0", "--times", "1"],
    ["simulate", "--model", "domino1984", "--weight-kg", "70", "--bolus", "-5mg@0", "--times", "1"],
    [
        "tci",
        "--model",
        "hijazi2003",
        "--weight-kg",
        "70",
        "--target-ng-ml",
        "100",
        "--site",
        "effect",
        "--duration-min",
        "10",
        "--json",
    ],
    [
        "simulate",
        "--model",
        "domino1984",
        "--weight-kg",
        "70",
        "--times",
        "1",
        "--ke0",
        "1",
        "--t-peak-min",
        "2",
    ],
]


@pytest.mark.parametrize("args", BAD)
def test_bad_input_raises_the_errors_main_turns_into_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, ["pk", *args])
    assert isinstance(result.exception, InputError | NotFoundError)


@pytest.mark.parametrize("args", [BAD[0], BAD[-1]])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args: list[str]) -> None:
    result = subprocess.run([KETACLINIC, "pk", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
    assert result.stdout == ""
