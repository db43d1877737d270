"""Clinic-wide alerts over HTTP: the API list with each alert's session, the badge, the home page list."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from ketaclinic.services.ledger import counts
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD
from tests.ledger_support import ketamine_stock
from tests.web.test_sessions_web import _running_session as running_session

Client = Callable[[str | None], TestClient]


def test_open_clinic_alerts_reach_physicians_and_nurses_with_their_session(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    nurse = api_client("nurse")
    sid = running_session(nurse, web_db, web_staff)
    nurse.post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 186, "dbp": 114, "hallucinations": True})
    for role in ("physician", "nurse"):
        listed = api_client(role).get("/api/v1/alerts", params={"status": "open"})
        assert listed.status_code == 200
        assert [(a["session_id"], a["group"], a["severity"]) for a in listed.json()] == [
            (sid, "blood_pressure", "critical")
        ]
    assert api_client("researcher").get("/api/v1/alerts").status_code == 403
    assert api_client(None).get("/api/v1/alerts").status_code == 401
    bad = api_client("physician").get("/api/v1/alerts", params={"status": "opened"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    physician = page_client("physician")
    badge = physician.get("/alerts/badge")
    assert badge.status_code == 200 and 'class="badge">1<' in badge.text and "has-open" in badge.text
    home = physician.get("/")
    assert 'id="alert-badge"' in home.text and 'hx-get="/alerts/clinic"' in home.text
    listed_html = physician.get("/alerts/clinic").text
    assert f'href="/sessions/{sid}"' in listed_html and "blood pressure" in listed_html
    assert 'id="alert-badge"' in physician.get("/plans").text  # in the navigation of every page


def test_the_panel_acknowledges_with_one_pick_and_resolves_by_the_reading(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    api = api_client("nurse")
    sid = running_session(api, web_db, web_staff)
    api.post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 186, "dbp": 90})
    (alert,) = api.get(f"/api/v1/sessions/{sid}/alerts").json()
    nurse = page_client("nurse")
    headers = {"X-CSRF-Token": nurse.csrf}
    empty = nurse.post(f"/sessions/{sid}/alerts/{alert['id']}/ack", data={"action": ""}, headers=headers)
    assert "action" in empty.text and 'role="alert"' in empty.text
    acked = nurse.post(f"/sessions/{sid}/alerts/{alert['id']}/ack", data={"action": "pause"}, headers=headers)
    assert "Infusion paused" in acked.text
    twice = nurse.post(f"/sessions/{sid}/alerts/{alert['id']}/ack", data={"action": "pause"}, headers=headers)
    assert "is acknowledged, not open" in twice.text
    reading = api.post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 124, "dbp": 76}).json()
    panel = nurse.get(f"/sessions/{sid}/alerts").text
    assert "Resolved by the reading at" in panel and f'value="{reading["id"]}"' in panel
    done = nurse.post(
        f"/sessions/{sid}/alerts/{alert['id']}/resolve",
        data={"observation_id": reading["id"]},
        headers=headers,
    )
    assert "1 resolved alert(s)" in done.text and "resolved by the reading at" in done.text


def test_a_stock_count_alert_with_no_patient_shows_in_the_list_and_the_badge(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    ids = ketamine_stock(web_db, web_staff, containers=2)
    line = counts.CountLineIn(product_id=ids["product_id"], lot="K2401", counted_ml=19.5)
    made = counts.record_count(
        web_db,
        web_staff["nurse"],
        counts.CountIn(
            location_id=ids["location_id"],
            lines=[line],
            second_counter="physician",
            second_counter_password=STAFF_PASSWORD,
        ),
        config=None,
    )
    [listed] = api_client("physician").get("/api/v1/alerts").json()
    assert (listed["session_id"], listed["patient_id"], listed["group"]) == (None, None, "stock")
    sid = running_session(api_client("nurse"), web_db, web_staff)
    api_client("nurse").post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 186, "dbp": 114})
    assert len(api_client("physician").get("/api/v1/alerts").json()) == 2
    # An admin reviews counts but reads no charts: the stock alert only, in the list and the badge.
    assert [a["group"] for a in api_client("admin").get("/api/v1/alerts").json()] == ["stock"]
    admin = page_client("admin")
    assert (
        'class="badge">1<' in admin.get("/alerts/badge").text and 'id="clinic-alerts"' in admin.get("/").text
    )
    assert api_client("researcher").get("/api/v1/alerts").status_code == 403
    physician = page_client("physician")
    assert 'class="badge">2<' in physician.get("/alerts/badge").text
    html = physician.get("/alerts/clinic")
    assert html.status_code == 200 and 'href="/ledger/counts"' in html.text
    assert f"Stock count {made.id}:" in html.text and "/patients/None" not in html.text
    assert "-0.5 mL" in html.text
    reviewed = api_client("physician").post(
        f"/api/v1/ledger/counts/{made.id}/review", json={"note": "half a vial spilt, adjusted"}
    )
    assert reviewed.status_code == 200
    assert 'class="badge">1<' in physician.get("/alerts/badge").text  # the session's alert stays
    assert 'class="badge">0<' in admin.get("/alerts/badge").text
    assert "No open critical or physician alerts." in admin.get("/alerts/clinic").text
