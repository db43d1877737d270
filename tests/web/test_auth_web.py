"""Login, cookies, CSRF, idle logout, back-off and tokens through the web app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import WebSession
from tests.conftest import CSRF_PATTERN, STAFF_PASSWORD


def _login_form(client: TestClient) -> str:
    match = CSRF_PATTERN.search(client.get("/login").text)
    assert match
    return match.group(1)


def test_login_sets_a_hardened_cookie(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    token = _login_form(client)
    answer = client.post(
        "/login",
        data={"username": "nurse", "password": STAFF_PASSWORD, "csrf_token": token, "next": "/patients"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/patients"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_login_refuses_open_redirect(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    token = _login_form(client)
    answer = client.post(
        "/login",
        data={"username": "nurse", "password": STAFF_PASSWORD, "csrf_token": token, "next": "//evil.example"},
    )
    assert answer.headers["location"] == "/"


def test_login_without_csrf_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    client.get("/login")
    answer = client.post(
        "/login", data={"username": "nurse", "password": STAFF_PASSWORD, "csrf_token": "forged"}
    )
    assert answer.status_code == 403


def test_wrong_password_shows_the_form_again(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    token = _login_form(client)
    answer = client.post("/login", data={"username": "nurse", "password": "nope", "csrf_token": token})
    assert answer.status_code == 401
    assert "Invalid username or password" in answer.text


def test_cookie_writes_need_the_session_csrf_token(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("nurse")
    body = {"mrn": "C1", "family_name": "A", "given_name": "B", "birth_date": "1980-01-01", "sex": "male"}
    assert client.post("/api/v1/patients", json=body).status_code == 403
    assert (
        client.post("/api/v1/patients", json=body, headers={"X-CSRF-Token": client.csrf}).status_code == 201
    )


def test_idle_session_is_logged_out(page_client: Callable[[str], TestClient], web_db: Database) -> None:
    client = page_client("nurse")
    assert client.get("/patients").status_code == 200
    with web_db.transaction() as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    answer = client.get("/patients")
    assert answer.status_code == 303
    assert "expired" in answer.headers["location"]


def test_logout_ends_the_session(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("nurse")
    assert client.post("/logout", data={"csrf_token": client.csrf}).status_code == 303
    assert client.get("/patients").status_code == 303


def test_token_api_create_use_revoke(api_client: Callable[[str | None], TestClient], app) -> None:  # type: ignore[no-untyped-def]
    client = api_client("researcher")
    created = client.post("/api/v1/tokens", json={"name": "script"})
    assert created.status_code == 201
    secret = created.json()["token"]
    script = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    assert script.get("/api/v1/me").json()["role"] == "researcher"
    assert client.delete(f"/api/v1/tokens/{created.json()['id']}").status_code == 200
    assert script.get("/api/v1/me").status_code == 401
