"""Every route, walked with every role and an anonymous visitor: the declared permission is what is enforced.

A route is either public (listed below, with why) or guarded by `requires(...)`; a new unguarded
route fails this test.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from ketaclinic.services.permissions import ROLE_PERMISSIONS, Role
from ketaclinic.web import routes

PUBLIC_ROUTES = {
    ("GET", "/health"),  # liveness for monitoring
    ("GET", "/login"),  # the login form itself
    ("POST", "/login"),  # guarded by its own double-submit CSRF cookie
}
PUBLIC_PREFIXES = ("/r/",)  # one-time patient-reported-outcome links: the token is the credential
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
    found = []
    for info in pkgutil.iter_modules(routes.__path__):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        found.extend(r for r in module.router.routes if isinstance(r, APIRoute))
    return found


def _cases() -> list[tuple[str, str, APIRoute]]:
    return [(method, route.path, route) for route in _all_routes() for method in sorted(route.methods)]


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


@pytest.mark.parametrize(("method", "path", "route"), _cases(), ids=[f"{m} {p}" for m, p, _ in _cases()])
def test_route_with_every_role(
    method: str, path: str, route: APIRoute, api_client: Callable[[str | None], TestClient]
) -> None:
    guard = _guard(route)
    anonymous = _call(api_client(None), method, path)
    assert anonymous.status_code < 500, anonymous.text
    if guard is not None:
        expected = 303 if guard.page else 401
        assert anonymous.status_code == expected
    for role, username in ROLE_USERS.items():
        answer = _call(api_client(username), method, path)
        assert answer.status_code < 500, f"{role}: {answer.text}"
        if guard is None:
            continue
        allowed = not guard.permissions or any(p in ROLE_PERMISSIONS[role] for p in guard.permissions)
        if allowed:
            assert answer.status_code not in (401, 403), f"{role} refused: {answer.text}"
        else:
            assert answer.status_code == 403, f"{role} admitted to {method} {path}: {answer.status_code}"
