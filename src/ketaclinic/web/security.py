"""Security headers on every response and one access-log line per request (never a query string).

One pure ASGI middleware, so streamed responses pass through untouched and the headers are set
even on the error handlers' answers.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("ketaclinic.access")

# Self only: no inline script or style, no plugins, no framing, forms post back here only. htmx runs
# without eval (its meta config), so neither 'unsafe-inline' nor 'unsafe-eval' is needed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Powerful features a clinic screen never uses are off for the page and anything it embeds.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "serial",
        "bluetooth",
        "midi",
        "magnetometer",
        "gyroscope",
        "accelerometer",
        "display-capture",
    )
)
# The re-login dialog frames the login form and its "logged in again" page over an open screen, so
# those two, and only those, may be framed, and only by this app's own pages.
FRAMEABLE_BY_SELF = frozenset({"/login", "/session/resumed"})
# A year, the usual preload-list minimum; sent only when the installation runs behind TLS.
HSTS = "max-age=31536000; includeSubDomains"
# Static assets carry no patient data and may be cached; everything else may carry some.
CACHEABLE_PREFIXES = ("/static/",)


_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def csp_with_style_hashes(document: str) -> str:
    """The policy, with the `<style>` elements of a standalone document (a printable report) allowed by hash.

    Only those exact style sheets run: nothing injected into the page can add a style, and no script runs.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"
        for css in _STYLE_ELEMENT.findall(document)
    )
    return CONTENT_SECURITY_POLICY.replace("style-src 'self'", f"style-src 'self' {hashes}".rstrip())


def security_headers(path: str, *, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response to `path` carries (Cache-Control: no-store unless a static asset)."""
    framed = path in FRAMEABLE_BY_SELF
    policy = (
        CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        if framed
        else CONTENT_SECURITY_POLICY
    )
    headers = [
        ("Content-Security-Policy", policy),
        ("X-Frame-Options", "SAMEORIGIN" if framed else "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        # Follow-up questionnaire links carry their secret in the URL: never send it anywhere.
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if not path.startswith(CACHEABLE_PREFIXES):
        headers.append(("Cache-Control", "no-store"))
    if hsts:
        headers.append(("Strict-Transport-Security", HSTS))
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _merged(
    existing: Iterable[tuple[bytes, bytes]], added: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """A route's own value of a header wins (a report's narrower CSP, a download's caching)."""
    headers = list(existing)
    present = {name.lower() for name, _value in headers}
    headers.extend((name, value) for name, value in added if name not in present)
    return headers


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/patients/{patient_id}`), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path = scope.get("path", "")
    if path.startswith(CACHEABLE_PREFIXES):
        return "/static/{path}"
    if path == getattr(scope.get("app"), "openapi_url", None):
        return str(path)
    return "(unmatched)"


def _user_id(scope: Scope) -> str:
    state: Any = scope.get("state") or {}
    principal = state.get("principal") if isinstance(state, dict) else None
    actor = getattr(principal, "actor", None)
    user_id = getattr(actor, "user_id", None)
    return str(user_id) if user_id is not None else "-"


class SecurityMiddleware:
    """Add the security headers to every HTTP response and log one line per request when it ends."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes before any answer is sent: the server answers 500
        added = security_headers(scope.get("path", ""), hsts=self.hsts)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = _merged(message.get("headers", []), added)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # The route template and the user id only: a path's ids and a query string may name a patient.
            access_log.info(
                "user=%s method=%s route=%s status=%d duration_ms=%.1f",
                _user_id(scope),
                scope.get("method", "-"),
                route_template(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )
