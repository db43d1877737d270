"""GET /api/v1/events: a nurse's stream carries the events, a researcher's nothing; it never keeps a login
alive and it ends when the login does (logout, idle expiry, deactivation)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ketaclinic.services import accounts
from ketaclinic.services.events_bus import bus_for
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import WebSession
from ketaclinic.web.deps import SESSION_COOKIE
from tests.conftest import login_page_client
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, checked_in_session

HYPERTENSIVE = {"sbp": 185, "dbp": 96, "hr": 80, "spo2": 97}


@pytest.fixture
def live_app(settings: Settings, web_db: Database, web_staff: dict[str, Actor]) -> FastAPI:
    """The app with a fast heartbeat (the login is re-checked on each) and streams that end after 3 s."""
    from ketaclinic.web.app import create_app

    return create_app(dataclasses.replace(settings, live_heartbeat_s=0.1, live_stream_max_s=3.0), web_db)


class Stream:
    """A stream read to its end in a thread (the test client answers once the app has finished)."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.body = ""
        self.status = 0
        before = bus_for(db).subscriber_count
        self._thread = threading.Thread(target=self._read, args=(client,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while bus_for(db).subscriber_count <= before and self._thread.is_alive():
            assert time.monotonic() < deadline, "the stream did not subscribe"
            time.sleep(0.02)

    def _read(self, client: TestClient) -> None:
        answer = client.get("/api/v1/events")
        self.status = answer.status_code
        self.body = answer.text
        self.content_type = answer.headers.get("content-type", "")

    def finish(self, timeout_s: float = 10) -> str:
        """The whole body once the stream has ended."""
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the stream did not end"
        return self.body


def _running(db: Database, staff: dict[str, Actor], mrn: str) -> int:
    sid = checked_in_session(db, staff, mrn=mrn)
    rate = infusion_rates.RateIn(rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=5))
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
    return sid


def _cookie_of(client: TestClient) -> str:
    token = client.cookies.get(SESSION_COOKIE)
    assert isinstance(token, str) and token
    return token


def test_a_nurse_stream_carries_the_reading_and_alert_and_ends_at_logout(
    live_app: FastAPI,
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    sid = _running(web_db, web_staff, "W-1")
    client = login_page_client(live_app, "nurse")
    stream = Stream(client, web_db)
    stored = chart_observation(web_db, web_staff["nurse"], sid, HYPERTENSIVE, config=None)
    time.sleep(0.3)
    accounts.close_web_session(web_db, _cookie_of(client))  # logged out in another tab
    body = stream.finish()
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    assert body.startswith("retry: ")
    assert f'event: reading\ndata: {{"kind":"reading","state":"running","session_id":{sid},' in body
    assert f'"observation_id":{stored.id}' in body
    assert "event: alert\n" in body and '"state":"open"' in body
    assert ": heartbeat" in body
    assert body.rstrip().endswith("event: end\ndata: {}")
    assert "W-1" not in body and "Test" not in body  # no record number, no name


def test_a_researcher_stream_carries_nothing(
    live_app: FastAPI,
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    sid = _running(web_db, web_staff, "W-2")
    stream = Stream(login_page_client(live_app, "researcher"), web_db)
    chart_observation(web_db, web_staff["nurse"], sid, HYPERTENSIVE, config=None)
    body = stream.finish()
    assert stream.status == 200
    assert 'data: {"kind"' not in body and "event: reading" not in body and "event: alert" not in body
    assert body.rstrip().endswith("event: reconnect\ndata: {}")  # the stream's lifetime ran out


def test_the_stream_does_not_keep_the_login_alive_and_ends_when_it_expires(
    live_app: FastAPI,
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    client = login_page_client(live_app, "nurse")
    backdated = utcnow() - timedelta(minutes=14)  # a minute before the 15-minute idle logout
    with web_db.transaction() as session:
        session.execute(update(WebSession).values(last_seen_at=backdated))
    stream = Stream(client, web_db)
    time.sleep(0.5)  # several heartbeats, each re-checking the login
    with web_db.read() as session:
        seen = session.execute(select(WebSession.last_seen_at)).scalar_one()
    assert abs((seen - backdated).total_seconds()) < 1  # the stream did not count as activity
    with web_db.transaction() as session:  # the idle minute passes
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    body = stream.finish(timeout_s=2.5)  # before the stream's own 3 s lifetime
    assert body.rstrip().endswith("event: end\ndata: {}")


def test_the_stream_ends_when_the_user_is_deactivated(
    live_app: FastAPI,
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    stream = Stream(login_page_client(live_app, "nurse"), web_db)
    accounts.deactivate_user(web_db, web_staff["admin"], "nurse")
    body = stream.finish(timeout_s=2.5)
    assert body.rstrip().endswith("event: end\ndata: {}")


def test_without_a_login_the_stream_is_refused(api_client: Callable[[str | None], TestClient]) -> None:
    answer = api_client(None).get("/api/v1/events")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
