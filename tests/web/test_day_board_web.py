"""/today: the chairs by time with each appointment's state; a session is started from the board."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import login_page_client
from tests.services.sessions_support import CHECK_IN
from tests.web.board_support import booked_today, open_all_day

HYPERTENSIVE = {"sbp": 185, "dbp": 96, "hr": 80, "spo2": 97}


@pytest.fixture
def board_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings with a clinic open around the clock."""
    return open_all_day(settings, tmp_path / "config")


@pytest.fixture
def board_app(board_settings: Settings, web_db: Database, web_staff: dict[str, Actor]) -> FastAPI:
    """The app on that clinic."""
    from ketaclinic.web.app import create_app

    return create_app(board_settings, web_db)


def test_a_nurse_starts_a_session_from_the_board_and_sees_it_run(
    board_app: FastAPI, board_settings: Settings, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    appointment = booked_today(web_db, web_staff, board_settings, "DB-1")
    nurse = login_page_client(board_app, "nurse")
    page = nurse.get("/today")
    assert page.status_code == 200
    assert 'id="chair-c1"' in page.text and f'id="appointment-{appointment.id}"' in page.text
    assert "Start session" in page.text and ">booked<" in page.text
    assert 'href="/today"' in page.text  # the nav item

    started = nurse.post(f"/today/appointments/{appointment.id}/start", data={"csrf_token": nurse.csrf})
    assert started.status_code == 303
    session_id = int(started.headers["location"].rsplit("/", 1)[1])
    again = nurse.post(f"/today/appointments/{appointment.id}/start", data={"csrf_token": nurse.csrf})
    assert again.headers["location"] == f"/sessions/{session_id}"  # a second click opens the same chart
    assert f'href="/sessions/{session_id}">Open chart' in nurse.get("/today/board").text

    actor = web_staff["nurse"]
    sessions.check_in(web_db, actor, session_id, CheckInIn.model_validate(CHECK_IN), config=board_settings)
    board = nurse.get("/today/board").text
    assert ">checked in<" in board and "(checked in)" in board
    rate = infusion_rates.RateIn(
        rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=10), deviation_reason="a round rate for the test"
    )
    sessions.start(web_db, actor, session_id, rate, config=board_settings)
    chart_observation(web_db, actor, session_id, HYPERTENSIVE, config=board_settings)
    board = nurse.get("/today/board").text
    assert ">running<" in board and "0.350 mg/kg/h" in board
    assert "Cp " in board and "ng/mL" in board
    assert "1 open · " in board and "1 open alert" in board
    assert 'nurse <span class="muted small">(charting)</span>' in board


def test_starting_from_a_cancelled_appointment_is_refused(
    board_app: FastAPI, board_settings: Settings, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    from ketaclinic.services.scheduling import changes

    appointment = booked_today(web_db, web_staff, board_settings, "DB-2")
    changes.cancel(
        web_db,
        web_staff["nurse"],
        appointment.id,
        changes.EndIn(version=appointment.version, reason="patient unwell"),
        board_settings,
    )
    nurse = login_page_client(board_app, "nurse")
    refused = nurse.post(f"/today/appointments/{appointment.id}/start", data={"csrf_token": nurse.csrf})
    assert refused.status_code == 409
    assert "is cancelled: no session starts from it" in refused.text


@pytest.mark.parametrize("who", ["researcher", "admin"])
def test_the_board_is_for_clinical_staff(board_app: FastAPI, who: str) -> None:
    client = login_page_client(board_app, who)
    assert client.get("/today").status_code == 403
    assert 'href="/today"' not in client.get("/", follow_redirects=True).text
