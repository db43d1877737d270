"""The dose-check API and `ketaclinic dose check` give the same answer for the same input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ketaclinic.cli import app as cli_app

runner = CliRunner()

RATE_UNITS = ("mg/kg/h", "mg/h", "mL/h", "ug/kg/min")
BOLUS_UNITS = ("mg", "mg/kg")
CONTEXTS = ("outpatient", "continuous", "outpatient-s", "continuous-s")


def _cli(kind: str, text: str, context: str, weight_kg: float, concentration: float | None) -> dict[str, Any]:
    args = [
        "dose",
        "check",
        f"--{kind}",
        text,
        "--context",
        context,
        "--weight-kg",
        repr(weight_kg),
        "--json",
    ]
    if concentration is not None:
        args += ["--concentration-mg-ml", repr(concentration)]
    result = runner.invoke(cli_app, args)
    if result.exit_code != 0:
        return {"error": result.exit_code}
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _api(
    client: TestClient, kind: str, text: str, context: str, weight_kg: float, concentration: float | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"context": context, "weight_kg": weight_kg, "kind": kind}
    body[kind] = text
    if concentration is not None:
        body["concentration_mg_ml"] = concentration
    answer = client.post("/api/v1/dose/check", json=body)
    if answer.status_code != 200:
        return {"error": answer.status_code}
    return answer.json()  # type: ignore[no-any-return]


_VERDICT_KEYS = ("verdict", "limit", "limit_kind", "source", "rate_mg_h", "dose_mg", "pump_ml_h")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(("rate", "bolus")),
    value=st.floats(min_value=0, max_value=300, allow_nan=False).map(lambda v: round(v, 3)),
    unit_index=st.integers(min_value=0, max_value=3),
    context=st.sampled_from(CONTEXTS),
    weight_kg=st.floats(min_value=1, max_value=400).map(lambda w: round(w, 1)),
    concentration=st.sampled_from((None, 1.0, 2.0)),
)
def test_api_and_cli_give_the_same_verdict(
    api_client: Callable[[str | None], TestClient],
    kind: str,
    value: float,
    unit_index: int,
    context: str,
    weight_kg: float,
    concentration: float | None,
) -> None:
    units = RATE_UNITS if kind == "rate" else BOLUS_UNITS
    text = f"{value:g} {units[unit_index % len(units)]}"
    cli = _cli(kind, text, context, weight_kg, concentration)
    api = _api(api_client("nurse"), kind, text, context, weight_kg, concentration)
    if "error" in cli or "error" in api:
        assert "error" in cli and "error" in api, (cli, api)
        return
    assert {k: cli.get(k) for k in _VERDICT_KEYS} == {k: api.get(k) for k in _VERDICT_KEYS}
    assert cli["checks"] == api["checks"]
