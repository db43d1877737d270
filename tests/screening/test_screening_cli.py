"""`ketaclinic screen FILE.json [--json]`: JSON body, readable summary, one line and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app

runner = CliRunner()
KETACLINIC = Path(sys.executable).with_name("ketaclinic")


def _write(tmp_path: Path, data: Any, name: str = "intake.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_json_output_has_the_issue_keys(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    path = _write(tmp_path, intake_data | {"conditions": ["raised_icp", "cardiovascular_risk"]})
    result = runner.invoke(app, ["screen", str(path), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["verdict"] == "not_eligible"
    assert [r["code"] for r in body["reasons"]] == ["raised_icp", "cardiovascular_risk"]
    assert {"code", "text", "source", "grade"} <= set(body["reasons"][0])
    assert [t["code"] for t in body["required_tests"]] == ["ecg"]
    assert body["missing_prerequisites"] == []
    assert body["evidence"]["groups"][0]["group"] == "trigeminal_neuralgia"


def test_high_frequent_dosing_flag_asks_for_liver_tests(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    path = _write(tmp_path, intake_data)
    result = runner.invoke(app, ["screen", str(path), "--json", "--high-frequent-dosing"])
    assert [t["code"] for t in json.loads(result.stdout)["required_tests"]] == ["liver_function_tests"]


def test_readable_summary(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    path = _write(tmp_path, intake_data | {"prior_treatments": []})
    result = runner.invoke(app, ["screen", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Verdict: not eligible")
    assert "Refractoriness not demonstrated" in result.stdout
    assert "Vallé 2024: 23/45 favourable (51.1%)" in result.stdout


def test_rules_override_option(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[blood_pressure_threshold]\nsystolic_mmhg = 120\nsource = "Clinic X"\n', encoding="utf-8"
    )
    path = _write(tmp_path, intake_data)
    result = runner.invoke(app, ["screen", str(path), "--json", "--rules", str(override)])
    assert json.loads(result.stdout)["verdict"] == "not_eligible"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"sex": "male", "pregnant": True}, "pregnant"),
        ({"baseline_nrs": 14}, "baseline_nrs"),
        ({"conditions": ["gout"]}, "conditions[0]"),
    ],
)
def test_bad_fields_exit_2_with_one_line(
    tmp_path: Path, intake_data: dict[str, Any], content: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, intake_data | content)
    result = runner.invoke(app, ["screen", str(path), "--json"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_missing_field_exits_2(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    del intake_data["weight_kg"]
    result = runner.invoke(app, ["screen", str(_write(tmp_path, intake_data)), "--json"])
    assert result.exit_code == 2
    assert "weight_kg" in result.stderr


def test_unreadable_json_and_missing_file_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"age_y": ', encoding="utf-8")
    result = runner.invoke(app, ["screen", str(broken), "--json"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    result = runner.invoke(app, ["screen", str(tmp_path / "absent.json"), "--json"])
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    result = runner.invoke(app, ["screen", str(_write(tmp_path, [1, 2])), "--json"])
    assert result.exit_code == 2


def test_installed_command_exits_2_on_contradiction(tmp_path: Path, intake_data: dict[str, Any]) -> None:
    path = _write(tmp_path, intake_data | {"sex": "male", "pregnant": True})
    proc = subprocess.run(
        [str(KETACLINIC), "screen", str(path), "--json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: pregnant: marked pregnant but sex is male"
