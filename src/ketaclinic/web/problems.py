"""Errors as answers: problem+json for the API, an HTML page for the screens; never a traceback."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketaclinic.errors import ANSWERS, Answer, DataFileError, ManyInputsError, StaleVersionError, answer_for
from ketaclinic.web.security import security_headers

log = logging.getLogger("ketaclinic.web")
PASSWORD_CHANGE_PATH = "/account/password"


class NotAuthenticatedError(Exception):
    """No valid session or token; pages redirect to the login form, the API answers 401."""

    def __init__(self, *, page: bool, reason: str = "login required") -> None:
        super().__init__(reason)
        self.page = page
        self.reason = reason


class PasswordChangeRequiredError(Exception):
    """A user whose password was reset asks for anything but changing it; pages go to the change screen."""

    def __init__(self, *, page: bool) -> None:
        super().__init__("set a new password first: your password was reset by an administrator")
        self.page = page


class CsrfError(Exception):
    """A cookie-authenticated write without the session's CSRF token."""


def wants_html(request: Request) -> bool:
    """Pages answer in HTML; everything under /api answers problem+json."""
    return not request.url.path.startswith("/api/")


def problem(status: int, title: str, detail: str, *, field: str | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _html_error(request: Request, status: int, title: str, detail: str) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "detail": detail, "status": status}, status_code=status
    )


def _answer(
    request: Request, status: int, title: str, detail: str, field: str | None = None, **extra: Any
) -> Response:
    if wants_html(request):
        return _html_error(request, status, title, detail if not field else f"{field}: {detail}")
    return problem(status, title, detail, field=field, **extra)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


def failure_summary(exc: BaseException) -> str:
    """An unexpected error for the log: classes, the statement that failed and the stack, no message.

    A message can quote what was typed (a driver's "Key (mrn)=(...) already exists", a ValueError
    naming a value), so no exception's text is logged, only where it happened.
    """
    lines: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        lines.append(f"{type(current).__module__}.{type(current).__qualname__}")
        if isinstance(current, StatementError) and current.statement:
            lines.append(f"  statement: {' '.join(current.statement.split())}")
        lines.extend(line.rstrip() for line in traceback.format_tb(current.__traceback__))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n".join(lines)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path (for a 405's Allow)."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "routes", ()):
        if route.path_regex.match(request.url.path):
            methods.update(route.methods or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Map every expected failure to a clear 4xx, and anything else to a plain 500 without internals."""

    @app.exception_handler(NotAuthenticatedError)
    async def _not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        if request.headers.get("hx-request"):
            # A fragment must never receive the login page: the screen opens its re-login dialog.
            response = problem(401, "Not authenticated", exc.reason)
            response.headers["HX-Trigger"] = "session-expired"
            return response
        if exc.page:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"/login?next={target}&why={exc.reason.replace(' ', '+')}", status_code=303
            )
        return problem(401, "Not authenticated", exc.reason)

    @app.exception_handler(PasswordChangeRequiredError)
    async def _password_change(request: Request, exc: PasswordChangeRequiredError) -> Response:
        if request.headers.get("hx-request"):
            response = problem(403, "Password change required", str(exc))
            response.headers["HX-Redirect"] = PASSWORD_CHANGE_PATH
            return response
        if exc.page:
            return RedirectResponse(PASSWORD_CHANGE_PATH, status_code=303)
        return problem(403, "Password change required", str(exc), field="password")

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        return _answer(
            request, 403, "CSRF check failed", "the form is stale or forged: reload the page and try again"
        )

    async def _known(request: Request, exc: Exception) -> Response:
        answer = answer_for(exc) or Answer(500, "Internal error")  # registered for listed classes only
        if isinstance(exc, DataFileError):
            log.error("configuration error: %s", exc)
        detail = getattr(exc, "message", str(exc))
        extra: dict[str, Any] = exc.details() if isinstance(exc, StaleVersionError) else {}
        if isinstance(exc, ManyInputsError):
            extra["errors"] = [{"field": p.field, "message": p.message} for p in exc.problems]
        return _answer(request, answer.status, answer.title, detail, getattr(exc, "field", None), **extra)

    # Pydantic errors raised past a route are left to the 500 handler, as before: routes catch theirs.
    for error_class in ANSWERS:
        if not issubclass(error_class, pydantic.ValidationError):
            app.add_exception_handler(error_class, _known)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": _loc_to_field(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        answer = ANSWERS[pydantic.ValidationError]
        return _answer(request, answer.status, answer.title, first["message"], first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        response = _answer(request, exc.status_code, title, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # The router names the methods of the first route on the path only; Allow lists them all.
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        route = getattr(request.scope.get("route"), "path_format", "(unmatched)")
        log.error("unexpected error on %s %s\n%s", request.method, route, failure_summary(exc))
        response = _answer(request, 500, "Internal error", "something went wrong; it has been logged")
        # This answer is sent by the outermost error middleware, past the security middleware's reach.
        for name, value in security_headers(request.url.path, hsts=request.app.state.settings.secure_cookies):
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        return response
