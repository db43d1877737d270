"""`ketaclinic monitor replay`: the example session end to end, rule overrides, and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.errors import InputError, KetaclinicError, NotFoundError
from ketaclinic.monitoring import replay_session

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "replay-session.json"
KETACLINIC = [sys.executable, "-m", "ketaclinic"]


def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KETACLINIC, *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_example_replay_json() -> None:
    result = CliRunner().invoke(app, ["monitor", "replay", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"alerts", "overdue", "pk"} <= set(out)
    fired = {(a["t_min"], a["rule"]) for a in out["alerts"]}
    assert (30, "sbp_rise_from_baseline") in fired
    assert {(45, "rass_oversedation"), (45, "moaas_oversedation"), (45, "hallucinations")} <= fired
    assert not any(t == 15 for t, _ in fired)
    for alert in out["alerts"]:
        assert {"t_min", "rule", "severity", "advice"} <= set(alert)
    # Nothing charted between 45 and 80 min: 60 is overdue (75 is still within grace at 80).
    assert {(o["t_due_min"], o["group"]) for o in out["overdue"]} == {(60, "vitals"), (60, "sedation")}
    assert out["pk"]["peak_cp_ng_ml"] > out["pk"]["cp_end_ng_ml"] > 0
    assert out["pk"]["t_peak_min"] == 40  # the rate halves at 40 min


def test_example_replay_text_summary() -> None:
    result = CliRunner().invoke(app, ["monitor", "replay", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "RASS -2 is at or below -2" in result.output
    assert "overdue  vitals" in result.output
    assert "predicted Cp: peak" in result.output


def test_rule_override_changes_the_replay(tmp_path: Path) -> None:
    rules = tmp_path / "clinic.toml"
    rules.write_text(
        '[[rule]]\nkey = "sbp_rise_from_baseline"\nrise_pct = 40\nrise_abs = 50\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["monitor", "replay", str(EXAMPLE), "--json", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    fired = {a["rule"] for a in json.loads(result.output)["alerts"]}
    assert "sbp_rise_from_baseline" not in fired
    assert "sbp_high" in fired


def test_impossible_value_exits_2_with_one_line_naming_the_field(tmp_path: Path) -> None:
    data = _example()
    data["observations"][3]["spo2"] = 104
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    proc = _run("monitor", "replay", str(bad), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["error: observations[3].spo2: 104 is impossible (0-100 %)"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weight_kg": -3}, "weight_kg"),
        ({"model": None}, "model"),
        ({"segments": [{"start_min": 10, "end_min": 5, "rate_mg_h": 40}]}, "segments[0]"),
        ({"segments": [{"start_min": 0, "end_min": 5}]}, "segments[0].rate_mg_h"),
        ({"baseline": {"hr": 0}}, "baseline.hr"),
        ({"observations": [{"t_min": 5, "sbp": 90, "dbp": 100}]}, "observations[0].sbp"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        replay_session(_example() | change)
    assert caught.value.field == field


def test_bad_files_exit_2(tmp_path: Path) -> None:
    not_json = tmp_path / "x.json"
    not_json.write_text("{", encoding="utf-8")
    for path in (not_json, tmp_path / "absent.json"):
        result = CliRunner().invoke(app, ["monitor", "replay", str(path), "--json"])
        assert result.exit_code == 2
        assert result.output.startswith(f"error: {path}:")


def test_unknown_model_is_refused() -> None:
    with pytest.raises(KetaclinicError) as caught:
        replay_session(_example() | {"model": "no_such_model"})
    assert isinstance(caught.value, InputError | NotFoundError)


def test_replay_without_observations_lists_every_missed_slot() -> None:
    out = replay_session(
        {
            "weight_kg": 70,
            "model": "domino1984",
            "segments": [{"start_min": 0, "end_min": 40, "rate_mg_h": 35}],
        }
    )
    assert out["alerts"] == []
    assert [o["t_due_min"] for o in out["overdue"] if o["group"] == "vitals"] == [15, 30]
