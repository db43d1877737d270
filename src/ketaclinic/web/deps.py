"""Request dependencies: database, clinic library, who is asking (cookie or bearer), permissions, CSRF."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from ketaclinic.dosing import DrugLibrary
from ketaclinic.errors import PermissionDeniedError
from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import Actor, Permission
from ketaclinic.services.reference import clinic_library
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.web.problems import CsrfError, NotAuthenticatedError, PasswordChangeRequiredError

SESSION_COOKIE = "kc_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sent by the screens' own background requests (session.js marks every htmx poll with it). Trusting it is
# safe: a client can only use it to make its own login end sooner.
BACKGROUND_HEADER = "x-kc-background"


def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_clinic_library(settings: SettingsDep) -> DrugLibrary:
    """The clinic's drug library (shipped data with the config dir's override), once per request."""
    return clinic_library(settings).library


ClinicLibraryDep = Annotated[DrugLibrary, Depends(get_clinic_library)]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    actor: Actor
    full_name: str
    csrf_token: str | None
    via: str
    expires_at: datetime | None = None  # a cookie session's idle or absolute end, None for a bearer token
    must_change_password: bool = False

    def can(self, permission: Permission) -> bool:
        """Shortcut to the actor's permissions."""
        return self.actor.can(permission)


def is_user_action(request: Request, *, passive: bool) -> bool:
    """Whether a request counts as a person's activity for the idle logout: the one place this is decided.

    Not activity: a route declared `passive` (a poll or a stream), or a request the screen marks as
    background with BACKGROUND_HEADER. Everything else a logged-in browser sends is.
    """
    return not passive and request.headers.get(BACKGROUND_HEADER) != "1"


async def _resolve(
    request: Request, db: Database, settings: Settings, *, touch: bool = True
) -> Principal | None:
    return resolve_caller(request, db, settings, touch=touch)


def resolve_caller(request: Request, db: Database, settings: Settings, *, touch: bool) -> Principal | None:
    """The caller of a request by bearer token or cookie; None when neither is (still) valid.

    A live stream calls this again on each heartbeat with `touch=False`, so it ends when the login does.
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        actor = api_tokens.resolve_api_token(db, header[7:].strip())
        return Principal(actor, "", None, "bearer") if actor else None
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    info = accounts.resolve_web_session(
        db,
        token,
        idle_timeout_min=settings.idle_timeout_min,
        max_hours=settings.session_max_hours,
        touch=touch,
    )
    if info is None:
        return None
    return Principal(
        info.actor, info.full_name, info.csrf_token, "cookie", info.expires_at, info.must_change_password
    )


async def _check_csrf(request: Request, principal: Principal) -> None:
    if principal.via != "cookie" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        raise CsrfError()


def requires(
    permission: Permission | tuple[Permission, ...] | None,
    *,
    page: bool = False,
    passive: bool = False,
    before_password_change: bool = False,
) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers that hold `permission` (any of a tuple; None: any logged-in user).

    A `passive` route (a poll or a stream, not a person acting) does not keep the login alive. A user
    whose password was reset reaches only `before_password_change` routes (change it, log out).

    The returned callable carries `.permissions` and `.page` so the role-matrix test can read every
    route's rule.
    """
    needed: tuple[Permission, ...] = (
        () if permission is None else permission if isinstance(permission, tuple) else (permission,)
    )

    async def dependency(request: Request, db: DbDep, settings: SettingsDep) -> Principal:
        principal = await _resolve(request, db, settings, touch=is_user_action(request, passive=passive))
        if principal is None:
            why = (
                "session expired or login required"
                if request.cookies.get(SESSION_COOKIE)
                else "login required"
            )
            raise NotAuthenticatedError(page=page, reason=why)
        await _check_csrf(request, principal)
        if principal.must_change_password and not before_password_change:
            raise PasswordChangeRequiredError(page=page)
        if needed and not any(principal.can(p) for p in needed):
            wanted = " or ".join(p.value for p in needed)
            raise PermissionDeniedError(f"role {principal.actor.role_name} may not {wanted}")
        request.state.principal = principal
        return principal

    dependency.permissions = needed  # type: ignore[attr-defined]
    dependency.page = page  # type: ignore[attr-defined]
    return dependency


async def optional_principal(request: Request, db: DbDep, settings: SettingsDep) -> Principal | None:
    """The caller if logged in (for pages that show differently to visitors)."""
    principal = await _resolve(request, db, settings, touch=is_user_action(request, passive=False))
    request.state.principal = principal
    return principal


def page_context(request: Request, **values: Any) -> dict[str, Any]:
    """Template values every page needs (who is logged in, the CSRF token)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return {"principal": principal, "csrf_token": principal.csrf_token if principal else "", **values}


def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> Response:
    """Render a page template with the common context (who is logged in, the CSRF token)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, template, page_context(request, **values), status_code=status_code
    )
