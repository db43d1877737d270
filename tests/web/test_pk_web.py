"""PK API and PK explorer page: CLI-shaped JSON, 422 naming the field, point cap, bands with sources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.reports.time_charts import concentration_chart

BODY: dict[str, Any] = {
    "model": "domino1984",
    "weight_kg": 70,
    "infusions": [{"start_min": 0, "end_min": 240, "rate_mg_h": 35}],
    "times": [1, 60, 240],
}


def test_simulate_matches_the_engine(api_client: Callable[[str | None], TestClient]) -> None:
    answer = api_client("physician").post("/api/v1/pk/simulate", json=BODY)
    assert answer.status_code == 200
    data = answer.json()
    assert data["model"] == "domino1984" and data["weight_kg"] == 70
    # the engine's doctest values (pharmacology.simulate)
    assert [round(p["cp_ng_ml"], 3) for p in data["points"]] == [67.02, 176.485, 259.733]


def test_per_kg_rate_and_grid(api_client: Callable[[str | None], TestClient]) -> None:
    body = dict(BODY, times=None, until_min=240, step_s=60)
    body["infusions"] = [{"start_min": 0, "end_min": 240, "rate_mg_kg_h": 0.5}]
    data = api_client("researcher").post("/api/v1/pk/simulate", json=body).json()
    assert len(data["points"]) == 241
    assert round(data["points"][-1]["cp_ng_ml"], 3) == 259.733  # 0.5 mg/kg/h x 70 kg = 35 mg/h


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "nope"}, "model"),
        ({"weight_kg": -1}, "weight_kg"),
        ({"times": None, "until_min": 100_000, "step_s": 1}, "step_s"),
        ({"times": None, "until_min": 100_000, "step_s": 1e-305}, "step_s"),  # overflowed to a 500 once
        ({"infusions": [{"start_min": 10, "end_min": 5, "rate_mg_h": 1}]}, "infusions"),
        ({"infusions": [{"start_min": 0, "end_min": 5, "rate_mg_h": 1, "rate_mg_kg_h": 1}]}, "infusions"),
        ({"times": None}, "body"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    api_client: Callable[[str | None], TestClient], change: dict[str, Any], field: str
) -> None:
    answer = api_client("physician").post("/api/v1/pk/simulate", json=BODY | change)
    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert field in (problem.get("field") or "") or field in answer.text
    if "step_s" in change:
        assert "at most 20000" in problem["detail"]


def test_models_and_permissions(api_client: Callable[[str | None], TestClient]) -> None:
    models = api_client("nurse").get("/api/v1/pk/models")
    assert models.status_code in (200, 403)
    physician = api_client("physician").get("/api/v1/pk/models").json()
    assert {"domino1984", "fanta2015_s"} <= {m["key"] for m in physician}
    assert all(m["source"] and m["status"] for m in physician)
    assert api_client(None).post("/api/v1/pk/simulate", json=BODY).status_code == 401


def test_explorer_page_shows_chart_bands_sources_and_warnings(
    page_client: Callable[[str], TestClient],
) -> None:
    client = page_client("physician")
    page = client.get("/pk")
    assert page.status_code == 200
    assert "<svg" in page.text and "Bowdle 1998" in page.text and "stanpumpR" in page.text
    assert "Peak Cp" in page.text
    light = client.get(
        "/pk",
        params={
            "model": "domino1984",
            "weight_kg": "20",
            "age_y": "10",
            "until_min": "60",
            "step_s": "60",
            "inf_start_min": "0",
            "inf_end_min": "30",
            "inf_rate": "10",
            "inf_unit": "mg/h",
        },
    )
    assert light.status_code == 200 and "Out of the model" in light.text
    bad = client.get(
        "/pk", params={"model": "domino1984", "weight_kg": "70", "until_min": "100000", "step_s": "1"}
    )
    assert bad.status_code == 422 and "raise step_s" in bad.text
    assert client.get("/pk").status_code == 200  # the defaults survive earlier requests


def test_explorer_shows_each_part_of_a_model_with_its_own_status(
    page_client: Callable[[str], TestClient],
) -> None:
    params = {"model": "herd2007", "weight_kg": "30", "age_y": "9", "until_min": "60", "step_s": "60"}
    page = page_client("physician").get("/pk", params=params)
    assert page.status_code == 200
    table = page.text.split('id="pk-part-status"')[1].split("</table>")[0]
    assert "Herd 2007 abstract: V1 38.7 L" in table and "Not in the Herd 2007 abstract" in table
    assert table.count("status-verified") == 2 and table.count("status-secondary") == 2
    assert "(ln 2 / 11 s)" in page.text and "3.781 /min" in page.text


def test_concentration_chart_draws_gaps_bands_and_sources() -> None:
    svg = concentration_chart(
        [0, 1, 2, 3],
        {"Cp": [0.0, 50.0, None, 80.0], "Ce": [0.0, 20.0, 40.0, 60.0]},
        bands=[{"label": "Band A", "low": 40, "high": 70, "source": "Paper 2001", "status": "secondary"}],
        title="test",
        markers=[(2.0, "rate change")],
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    cp_path = svg.split('<path d="')[1].split('"')[0]
    assert cp_path.count("M") == 2  # the None broke the line
    assert "Paper 2001" in svg and "[secondary]" in svg and "rate change" in svg
