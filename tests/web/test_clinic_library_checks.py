"""A clinic's lowered hard limit is the one applied by the dose check over the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import ketaclinic.data
from ketaclinic.cli import app as cli_app
from ketaclinic.dosing import HardLimitError

runner = CliRunner()
LOWERED = (
    "[context.outpatient.rate_mg_kg_h]\n"
    'soft_max = { value = 0.3, source = "Clinic pharmacy 2026", status = "local-policy" }\n'
    'hard_max = { value = 0.4, source = "Clinic pharmacy 2026", status = "local-policy" }\n'
)
CHECK = ["dose", "check", "--rate", "0.5 mg/kg/h", "--weight-kg", "70", "--context", "outpatient", "--json"]


@pytest.fixture
def clinic_dir(tmp_path: Path) -> Path:
    config_dir = tmp_path / "clinic"
    config_dir.mkdir()
    (config_dir / "drug_library.toml").write_text(LOWERED, encoding="utf-8")
    return config_dir


def _cli(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_shipped_library_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETACLINIC_CONFIG_DIR", raising=False)
    assert _cli(CHECK)["verdict"] == "ok"


def test_the_api_applies_the_clinic_hard_limit(
    app: Any, api_client: Callable[[str | None], TestClient], clinic_dir: Path
) -> None:
    app.state.settings = replace(app.state.settings, config_dir=clinic_dir)
    answer = (
        api_client("nurse")
        .post("/api/v1/dose/check", json={"context": "outpatient", "weight_kg": 70, "rate": "0.5 mg/kg/h"})
        .json()
    )
    assert (answer["verdict"], answer["limit"], answer["source"]) == ("hard", 0.4, "Clinic pharmacy 2026")
    library = api_client("nurse").get("/api/v1/library").json()
    outpatient = next(c for c in library["contexts"] if c["id"] == "outpatient")
    assert outpatient["limits"]["rate_mg_kg_h"]["hard_max"]["value"] == 0.4


def test_the_cli_applies_the_clinic_hard_limit(monkeypatch: pytest.MonkeyPatch, clinic_dir: Path) -> None:
    monkeypatch.delenv("KETACLINIC_CONFIG_DIR", raising=False)
    explicit = _cli([*CHECK, "--library", str(clinic_dir / "drug_library.toml")])
    assert (explicit["verdict"], explicit["limit"], explicit["source"]) == (
        "hard",
        0.4,
        "Clinic pharmacy 2026",
    )
    monkeypatch.setenv("KETACLINIC_CONFIG_DIR", str(clinic_dir))
    from_config = _cli(CHECK)
    assert (from_config["verdict"], from_config["limit"]) == ("hard", 0.4)
    refused = runner.invoke(cli_app, ["dose", "plan", "--protocol", "cohen2018-test", "--weight-kg", "70"])
    assert isinstance(refused.exception, HardLimitError) and "Clinic pharmacy 2026" in str(refused.exception)


def test_dose_plan_finds_the_clinics_own_protocols(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shipped = Path(ketaclinic.data.__file__).parent / "protocols" / "cohen2018-test.toml"
    config_dir = tmp_path / "clinic"
    (config_dir / "protocols").mkdir(parents=True)
    own = shipped.read_text(encoding="utf-8").replace('id = "cohen2018-test"', 'id = "clinic-test"')
    (config_dir / "protocols" / "clinic-test.toml").write_text(own, encoding="utf-8")
    monkeypatch.setenv("KETACLINIC_CONFIG_DIR", str(config_dir))
    plan = _cli(["dose", "plan", "--protocol", "clinic-test", "--weight-kg", "70", "--json"])
    assert plan["protocol"] == "clinic-test"
