"""Accounts through the web app: polls never keep a login alive, absolute end, deactivation, reset, tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import ApiToken, WebSession
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.web.deps import BACKGROUND_HEADER
from tests.conftest import CSRF_PATTERN, STAFF_PASSWORD, login_page_client, without_random_tokens
from tests.login_support import idle_for, last_seen

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "ketaclinic" / "web" / "templates"
POLLING_ELEMENT = re.compile(r"<[^>]*hx-trigger=\"[^\"]*\bevery\b[^\"]*\"[^>]*>")
TEMPORARY = "temporary-pass-1"


def test_every_polling_element_is_marked_background_and_its_route_is_passive(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, object]
) -> None:
    polls = [
        (template.name, tag)
        for template in TEMPLATES.rglob("*.html")
        for tag in POLLING_ELEMENT.findall(template.read_text(encoding="utf-8"))
    ]
    assert len(polls) >= 3  # the alert badge (twice) and the session's alert panel, at least
    unmarked = [name for name, tag in polls if "data-kc-background" not in tag]
    assert unmarked == []
    client = page_client("nurse")
    for path in ("/alerts/badge", "/alerts/clinic", "/session/status"):
        idle_for(web_db, 5)
        before = last_seen(web_db)
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 200, path
        assert last_seen(web_db) == before, f"{path} counted as activity"


def test_a_background_request_to_any_route_is_not_activity(
    page_client: Callable[[str], TestClient], web_db: Database
) -> None:
    client = page_client("nurse")
    idle_for(web_db, 5)
    before = last_seen(web_db)
    assert client.get("/patients", headers={BACKGROUND_HEADER: "1"}).status_code == 200
    assert last_seen(web_db) == before
    assert client.get("/patients").status_code == 200
    assert last_seen(web_db) != before


def test_a_poll_after_the_idle_logout_gets_401(
    page_client: Callable[[str], TestClient], web_db: Database
) -> None:
    client = page_client("nurse")
    idle_for(web_db, 16)
    answer = client.get("/alerts/badge", headers={"HX-Request": "true", BACKGROUND_HEADER: "1"})
    assert answer.status_code == 401
    assert answer.headers["HX-Trigger"] == "session-expired"
    page = client.get("/alerts/badge")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_the_absolute_lifetime_ends_an_active_session(
    page_client: Callable[[str], TestClient], web_db: Database
) -> None:
    client = page_client("nurse")
    with web_db.transaction() as session:
        session.execute(update(WebSession).values(created_at=utcnow() - timedelta(hours=12, minutes=1)))
    answer = client.get("/patients")
    assert answer.status_code == 303 and "expired" in answer.headers["location"]


def test_deactivation_from_the_users_page_logs_the_nurse_out(
    page_client: Callable[[str], TestClient], web_db: Database
) -> None:
    nurse = page_client("nurse")
    admin = page_client("admin")
    done = admin.post("/admin/users/nurse/deactivate", data={"csrf_token": admin.csrf})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?done=deactivate"
    assert "Account deactivated" in admin.get("/admin/users?done=deactivate").text
    assert nurse.get("/patients").headers["location"].startswith("/login")
    itself = admin.post("/admin/users/admin/deactivate", data={"csrf_token": admin.csrf})
    assert itself.status_code == 409 and "your own account" in itself.text
    assert admin.post("/admin/users/nurse/activate", data={"csrf_token": admin.csrf}).status_code == 303
    assert nurse.get("/patients").status_code == 303  # the old session stays ended


def test_account_api_answers_404_409_and_shows_the_state(
    api_client: Callable[[str | None], TestClient],
) -> None:
    admin = api_client("admin")
    assert admin.post("/api/v1/users/nobody/deactivate").status_code == 404
    self_answer = admin.post("/api/v1/users/admin/deactivate")
    assert self_answer.status_code == 409
    assert self_answer.json()["field"] == "username" and "own account" in self_answer.json()["detail"]
    assert admin.post("/api/v1/users/nurse/deactivate").json()["active"] is False
    assert admin.post("/api/v1/users/nurse/activate").json()["active"] is True
    short = admin.post("/api/v1/users/nurse/reset-password", json={"password": "short"})
    assert short.status_code == 422 and short.json()["field"] == "password"
    reset = admin.post("/api/v1/users/nurse/reset-password", json={"password": TEMPORARY})
    assert reset.json()["must_change_password"] is True
    assert api_client("nurse").get("/api/v1/me").status_code == 401  # the user's tokens wait for the change


def test_after_a_reset_the_user_can_only_change_the_password(app, page_client, web_db: Database) -> None:  # type: ignore[no-untyped-def]
    nurse_before = page_client("nurse")
    admin = page_client("admin")
    reset = admin.post(
        "/admin/users/nurse/reset-password", data={"csrf_token": admin.csrf, "password": TEMPORARY}
    )
    assert reset.status_code == 303
    assert nurse_before.get("/patients").status_code == 303  # the reset ended the nurse's session
    nurse = login_page_client(app, "nurse", TEMPORARY)
    for path in ("/patients", "/", "/account/tokens"):
        answer = nurse.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/account/password", path
    assert nurse.get("/api/v1/me").status_code == 403
    fragment = nurse.get("/alerts/badge", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"] == "/account/password"
    screen = nurse.get("/account/password")
    assert screen.status_code == 200 and "An administrator reset your password" in screen.text
    assert 'aria-label="Main"' not in screen.text  # no way elsewhere
    same = nurse.post(
        "/account/password",
        data={
            "csrf_token": nurse.csrf,
            "current_password": TEMPORARY,
            "new_password": TEMPORARY,
            "confirm_password": TEMPORARY,
        },
    )
    assert same.status_code == 422 and "must differ" in same.text
    mismatch = nurse.post(
        "/account/password",
        data={
            "csrf_token": nurse.csrf,
            "current_password": TEMPORARY,
            "new_password": "brand-new-pass",
            "confirm_password": "brand-new-pasS",
        },
    )
    assert mismatch.status_code == 422 and "differ" in mismatch.text
    changed = nurse.post(
        "/account/password",
        data={
            "csrf_token": nurse.csrf,
            "current_password": TEMPORARY,
            "new_password": "brand-new-pass",
            "confirm_password": "brand-new-pass",
        },
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/"
    assert nurse.get("/patients").status_code == 200


def test_self_service_password_change(page_client: Callable[[str], TestClient], app) -> None:  # type: ignore[no-untyped-def]
    client = page_client("physician")
    other = page_client("physician")
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": client.csrf,
            "current_password": "not-it-at-all",
            "new_password": "brand-new-pass",
            "confirm_password": "brand-new-pass",
        },
    )
    assert wrong.status_code == 422 and "current password is not right" in wrong.text
    done = client.post(
        "/account/password",
        data={
            "csrf_token": client.csrf,
            "current_password": STAFF_PASSWORD,
            "new_password": "brand-new-pass",
            "confirm_password": "brand-new-pass",
        },
    )
    assert done.headers["location"] == "/account/password?done=1"
    assert "Password changed" in client.get("/account/password?done=1").text
    assert other.get("/patients").status_code == 303  # the other browser's login ended
    assert login_page_client(app, "physician", "brand-new-pass").get("/").status_code == 200


def test_tokens_have_a_bounded_lifetime_and_show_their_use(  # type: ignore[no-untyped-def]
    api_client: Callable[[str | None], TestClient],
    app,
    web_db: Database,
    page_client: Callable[[str], TestClient],
) -> None:
    client = api_client("researcher")
    for bad in (0, 366, "soon"):
        answer = client.post("/api/v1/tokens", json={"name": "x", "expires_in_days": bad})
        assert answer.status_code == 422 and answer.json()["field"] == "expires_in_days", bad
    created = client.post("/api/v1/tokens", json={"name": "week", "expires_in_days": 7}).json()
    assert created["status"] == "active" and created["last_used_at"] is None
    script = TestClient(app, headers={"Authorization": f"Bearer {created['token']}"})
    assert script.get("/api/v1/me").status_code == 200
    listed = {t["name"]: t for t in client.get("/api/v1/tokens").json()}
    assert listed["week"]["last_used_at"] is not None
    with web_db.transaction() as session:
        session.execute(
            update(ApiToken).where(ApiToken.id == created["id"]).values(expires_at=utcnow() - timedelta(1))
        )
    assert script.get("/api/v1/me").status_code == 401
    assert {t["name"]: t["status"] for t in client.get("/api/v1/tokens").json()}["week"] == "expired"
    page = page_client("researcher")
    bad_form = page.post(
        "/account/tokens", data={"csrf_token": page.csrf, "name": "x", "expires_in_days": "400"}
    )
    assert bad_form.status_code == 422 and "1 to 365 days" in bad_form.text
    made = page.post(
        "/account/tokens", data={"csrf_token": page.csrf, "name": "form", "expires_in_days": "30"}
    )
    assert made.status_code == 200 and "shown once" in made.text
    assert "Expires" in made.text and "expired" in made.text


def test_login_throttle_is_per_address(app, web_staff: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    attacker = TestClient(app, follow_redirects=False, client=("203.0.113.9", 4000))
    failed = attacker.get("/login")
    for _ in range(6):  # each answer is the form again, with a fresh login CSRF token
        token = CSRF_PATTERN.search(failed.text)
        assert token
        failed = attacker.post(
            "/login", data={"username": "nurse", "password": "wrong-guess", "csrf_token": token.group(1)}
        )
    assert failed.status_code == 401 and "try again in" in failed.text
    nurse = login_page_client(app, "nurse")  # another address: not delayed
    assert nurse.get("/").status_code == 200


def test_the_audit_page_masks_identities_and_is_audited(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, object]
) -> None:
    nurse = page_client("nurse")
    body = {
        "mrn": "Z-99",
        "family_name": "Quixote",
        "given_name": "Alonso",
        "birth_date": "1960-05-05",
        "sex": "male",
    }
    assert nurse.post("/api/v1/patients", json=body, headers={"X-CSRF-Token": nurse.csrf}).status_code == 201
    admin = page_client("admin")
    page = admin.get("/admin/audit")
    shown = without_random_tokens(page.text)
    assert page.status_code == 200 and "Quixote" not in shown and "Z-99" not in shown
    assert "•••" in page.text
    api = admin.get("/api/v1/audit/events?entity=patient", headers={"X-CSRF-Token": admin.csrf})
    assert api.status_code == 200 and "Quixote" not in api.text
    with web_db.read() as session:
        views = session.execute(
            select(AuditEvent.changes_json).where(AuditEvent.action == "audit_view").order_by(AuditEvent.seq)
        ).all()
    assert len(views) == 2 and '"entity":"patient"' in views[1][0]
