"""Plan builder choices (cohen2018-series) and programmed pump rates, over the API and the screens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from ketaclinic.services.permissions import Actor
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from tests import factories

PATIENT = {
    "mrn": "RT-1",
    "family_name": "Ratewell",
    "given_name": "Iris",
    "birth_date": "1972-04-04",
    "sex": "female",
    "weight_kg": 70,
    "height_cm": 166,
    "diagnoses": ["G50.0"],
}
SERIES = "cohen2018-series"


def _patient(api_client: Callable[[str | None], TestClient], **changes: object) -> int:
    answer = api_client("physician").post("/api/v1/patients", json=PATIENT | changes)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_series_choices_over_the_api(api_client: Callable[[str | None], TestClient]) -> None:
    physician = api_client("physician")
    pid = _patient(api_client)
    made = physician.post(
        f"/api/v1/patients/{pid}/plans",
        json={"protocol_id": SERIES, "choices": {"dose_mg_kg": 1.0, "duration_min": 150, "sessions": 4}},
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["soft_breaches"] == [] and plan["session_count"] == 4
    assert plan["inputs"]["choices"] == {"dose_mg_kg": 1.0, "duration_min": 150, "sessions": 4}
    assert plan["plan"]["sessions"][0]["total_mg"] == 70
    outside = physician.post(
        f"/api/v1/patients/{pid}/plans", json={"protocol_id": SERIES, "choices": {"sessions": 8}}
    )
    assert outside.status_code == 201
    (breach,) = outside.json()["soft_breaches"]
    assert breach["quantity"] == "sessions" and "Cohen 2018" in breach["source"]
    for bad, field in (
        ({"sessions": "many"}, "choices.sessions"),
        ({"sessions": 4.5}, "choices.sessions"),
        ({"dose_mg_kg": 0}, "choices.dose_mg_kg"),
        ({"speed": 1}, "choices"),
    ):
        answer = physician.post(f"/api/v1/patients/{pid}/plans", json={"protocol_id": SERIES, "choices": bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["field"] == field, answer.json()
    other = physician.post(
        f"/api/v1/patients/{pid}/plans", json={"protocol_id": "valle2024", "choices": {"sessions": 4}}
    )
    assert other.status_code == 422 and "its choices: none" in other.json()["detail"]


def test_builder_form_sends_only_the_chosen_protocols_choices(
    page_client: Callable[[str], TestClient], api_client: Callable[[str | None], TestClient]
) -> None:
    pid = _patient(api_client)
    client = page_client("physician")
    builder = client.get(f"/patients/{pid}/plans/new")
    assert 'name="choice.cohen2018-series.dose_mg_kg"' in builder.text and "published 0.1–1" in builder.text
    sources = builder.text.split('id="protocol-sources"')[1].split("</details>")[0]
    valle = sources.split("Sint-Blasius")[1].split("</tr>")[0]
    assert (
        "local-policy</span> sessions, interval_days, test dose duration_min, treatment duration_min" in valle
    )
    assert "verified</span> test dose dose_mg, treatment dose_mg" in valle
    # a value typed into the series' boxes while another protocol is chosen is not sent with it
    made = client.post(
        f"/patients/{pid}/plans/new",
        data={
            "csrf_token": client.csrf,
            "protocol_id": "cohen2018-test",
            "choice.cohen2018-series.sessions": "9",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    wrong = client.post(
        f"/patients/{pid}/plans/new",
        data={"csrf_token": client.csrf, "protocol_id": SERIES, "choice.cohen2018-series.dose_mg_kg": "0"},
    )
    assert wrong.status_code == 422 and "choices.dose_mg_kg" in wrong.text
    assert 'value="0"' in wrong.text  # the mistake stays on the form to correct
    chosen = client.post(
        f"/patients/{pid}/plans/new",
        data={
            "csrf_token": client.csrf,
            "protocol_id": SERIES,
            "choice.cohen2018-series.dose_mg_kg": "1.5",
            "choice.cohen2018-series.sessions": "6",
        },
        follow_redirects=True,
    )
    text = chosen.text.replace("&#39;", "'")
    assert chosen.status_code == 200 and "<h2>Physician's choices</h2>" in text
    assert "physician's choice, dose per kg: 1.5 mg/kg is above the published range 0.1-1 mg/kg" in text


def test_pump_sheet_prints_the_programmed_rate(
    page_client: Callable[[str], TestClient],
    api_client: Callable[[str | None], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
    settings: Settings,
    tmp_path: Path,
) -> None:
    # 0.35 mg/kg/h x 30.3 kg = 10.605 mg/h: programmed as 10.6 mL/h at 1 mg/mL, checked at 10.6 mg/h
    pid = _patient(api_client, mrn="RT-2", weight_kg=30.3)
    factories.make_treatable(web_db, web_staff, pid, "inpatient-5day-weight")
    made = api_client("physician").post(
        f"/api/v1/patients/{pid}/plans", json={"protocol_id": "inpatient-5day-weight"}
    )
    assert made.status_code == 201, made.text
    top = made.json()["plan"]["sessions"][0]["segments"][-1]
    assert top["pump_ml_h"] == 10.6 and top["rate_mg_h"] == 10.6
    client = page_client("physician")
    sheet = client.get(f"/plans/{made.json()['id']}/sessions/1/pump-sheet")
    assert '"pump-rate big-number">10.6<' in sheet.text
    assert '"pump-rate big-number">3.0<' in sheet.text  # 0.1 mg/kg/h x 30.3 kg = 3.03 mL/h, set as 3.0
