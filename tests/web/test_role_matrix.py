"""Every route, walked with every role, outsiders and a visitor: the declared permission is what is enforced.

A route is either public (listed below, with why) or guarded by `requires(...)`; a new unguarded
route fails this test. Outsiders are a deactivated user (by bearer token and by a browser session
opened before the deactivation). The data model has one clinic (no clinic or site on a user), so
there is no clinician of another clinic to add; and a user always has a role (`create_user` refuses
none), so the no-role actor is covered where it can exist, in tests/services/test_accounts.py.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import ROLE_PERMISSIONS, Permission, Role
from ketaclinic.settings import Settings
from ketaclinic.web import routes
from ketaclinic.web.deps import SESSION_COOKIE
from tests.conftest import BACKENDS, STAFF_PASSWORD, database_url, make_staff, open_test_database

PUBLIC_ROUTES = {
    ("GET", "/health"),  # liveness for monitoring
    ("GET", "/login"),  # the login form itself
    ("POST", "/login"),  # guarded by its own double-submit CSRF cookie
    ("GET", "/docs"),  # the API reference page, as public as the OpenAPI document it reads
}
# One-time patient-reported-outcome links, the form and its JSON twin, and the opt-out link every
# message carries: the token is the credential.
PUBLIC_PREFIXES = ("/r/", "/api/v1/r/", "/o/")
ROLE_USERS = {
    Role.ADMIN: "admin",
    Role.PHYSICIAN: "physician",
    Role.NURSE: "nurse",
    Role.RESEARCHER: "researcher",
}


def _guard(route: APIRoute) -> Any | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if hasattr(dependency.call, "permissions"):
            return dependency.call
        stack.extend(dependency.dependencies)
    return None


def _all_routes() -> list[APIRoute]:
    found: list[APIRoute] = []
    for info in pkgutil.iter_modules(routes.__path__):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        found.extend(r for r in module.router.routes if isinstance(r, APIRoute))
    return found


def _cases() -> list[tuple[str, str, APIRoute]]:
    return [(method, route.path, route) for route in _all_routes() for method in sorted(route.methods or ())]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(client: TestClient, method: str, path: str) -> Any:
    if method in ("GET", "DELETE", "HEAD"):
        return client.request(method, _concrete(path), follow_redirects=False)
    return client.request(method, _concrete(path), json={}, follow_redirects=False)


def test_every_route_is_guarded_or_declared_public() -> None:
    unguarded = [
        (m, p)
        for m, p, route in _cases()
        if _guard(route) is None and (m, p) not in PUBLIC_ROUTES and not p.startswith(PUBLIC_PREFIXES)
    ]
    assert unguarded == []


@dataclass
class Matrix:
    """One app and database for the whole module, a client per identity (built once, not per route)."""

    anonymous: TestClient
    by_role: dict[Role, TestClient]
    outsiders: dict[str, TestClient]


@pytest.fixture(scope="module", params=BACKENDS)
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    from ketaclinic.web.app import create_app

    folder = tmp_path_factory.mktemp("matrix")
    with open_test_database(request, request.param, folder) as database:
        staff = make_staff(database)
        admin = staff["admin"]
        former = accounts.create_user(
            database, admin, username="former", role=Role.PHYSICIAN.value, password=STAFF_PASSWORD
        )
        # The deactivated user's token is token 1, so no route walked with id 1 revokes a live token.
        _info, former_secret = api_tokens.create_api_token(database, former, "tests")
        former_cookie, _csrf = accounts.open_web_session(database, former)
        accounts.deactivate_user(database, admin, "former")
        # The live event stream ends at once here (its lifetime 0 s): the walk reads each answer whole.
        settings = Settings(
            database_url=database_url(database),
            secret_key="test-secret",
            var_dir=folder,
            live_stream_max_s=0.0,
        )
        app = create_app(settings, database)

        def client(secret: str | None = None, cookie: str | None = None) -> TestClient:
            made = TestClient(app, raise_server_exceptions=False)
            if secret:
                made.headers["Authorization"] = f"Bearer {secret}"
            if cookie:
                made.cookies.set(SESSION_COOKIE, cookie)
            return made

        by_role = {
            role: client(api_tokens.create_api_token(database, staff[name], "tests")[1])
            for role, name in ROLE_USERS.items()
        }
        outsiders = {
            "deactivated user's token": client(former_secret),
            "deactivated user's session": client(cookie=former_cookie),
        }
        yield Matrix(client(), by_role, outsiders)


@pytest.mark.parametrize(("method", "path", "route"), _cases(), ids=[f"{m} {p}" for m, p, _ in _cases()])
def test_route_with_every_role(method: str, path: str, route: APIRoute, matrix: Matrix) -> None:
    guard = _guard(route)
    anonymous = _call(matrix.anonymous, method, path)
    assert anonymous.status_code < 500, anonymous.text
    if guard is not None:
        expected = 303 if guard.page else 401
        assert anonymous.status_code == expected
    for role, client in matrix.by_role.items():
        answer = _call(client, method, path)
        assert answer.status_code < 500, f"{role}: {answer.text}"
        if guard is None:
            continue
        allowed = not guard.permissions or any(p in ROLE_PERMISSIONS[role] for p in guard.permissions)
        if allowed:
            assert answer.status_code not in (401, 403), f"{role} refused: {answer.text}"
        else:
            assert answer.status_code == 403, f"{role} admitted to {method} {path}: {answer.status_code}"
    for who, client in matrix.outsiders.items():
        answer = _call(client, method, path)
        assert answer.status_code < 500, f"{who}: {answer.text}"
        if guard is None:
            continue  # a public route
        # Refused as a visitor is: 401 from the API, a redirect to the login form from a page.
        assert answer.status_code == (303 if guard.page else 401), f"{who} admitted to {method} {path}"
        if guard.page:
            assert answer.headers["location"].startswith("/login"), answer.headers["location"]


def test_the_ledger_roles() -> None:
    """Admin and physician receive and adjust; nurses prepare, waste and count; researchers see nothing."""
    ledger = {p for p in Permission if p.value.startswith("ledger.")}
    held = {role: {p.value for p in ROLE_PERMISSIONS[role] & ledger} for role in Role}
    assert held[Role.RESEARCHER] == set()
    assert held[Role.ADMIN] == {"ledger.view", "ledger.receive", "ledger.adjust"}
    assert held[Role.NURSE] == {"ledger.view", "ledger.dispense", "ledger.count", "ledger.witness"}
    assert held[Role.PHYSICIAN] == {p.value for p in ledger}
