"""Login, logout, the landing page, and the user's own API tokens."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaclinic.errors import InputError, NotFoundError, http_status
from ketaclinic.inputs import SingleLine
from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import Permission
from ketaclinic.settings import MAX_API_TOKEN_DAYS, Settings
from ketaclinic.store.db import Database
from ketaclinic.web import forms
from ketaclinic.web.deps import SESSION_COOKIE, DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId
from ketaclinic.web.problems import CsrfError

router = APIRouter(tags=["auth"])
LOGIN_CSRF_COOKIE = "kc_login_csrf"
NAV = [
    NavItem("API tokens", "/account/tokens", Permission.TOKENS_OWN, order=95),
    NavItem("Password", "/account/password", Permission.TOKENS_OWN, order=96),
]

AnyUserPage = Annotated[Principal, Depends(requires(None, page=True))]
AnyUserApi = Annotated[Principal, Depends(requires(None))]
# What a user whose password was reset may still reach: the change screen, the login clock, logging out.
PasswordPage = Annotated[Principal, Depends(requires(None, page=True, before_password_change=True))]
AnyUserPoll = Annotated[Principal, Depends(requires(None, passive=True, before_password_change=True))]
KeepAlive = Annotated[Principal, Depends(requires(None, before_password_change=True))]
TokensPage = Annotated[Principal, Depends(requires(Permission.TOKENS_OWN, page=True))]
TokensApi = Annotated[Principal, Depends(requires(Permission.TOKENS_OWN))]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, *, error: str = "", next_path: str = "/", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    settings: Settings = request.app.state.settings
    response = render(
        request,
        "login.html",
        status_code=status,
        idle_timeout_min=settings.idle_timeout_min,
        session_max_hours=settings.session_max_hours,
        login_csrf=token,
        error=error,
        next_path=next_path,
        why=request.query_params.get("why", ""),
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=1800)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/") -> Response:
    """The login form."""
    return _login_page(request, next_path=_safe_next(next))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password, open a session cookie and go on."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        raise CsrfError()
    try:
        actor = accounts.authenticate(
            db, username, password, address=request.client.host if request.client else None
        )
    except accounts.LoginFailedError as failure:
        message = "Invalid username or password."
        if failure.retry_after_s:
            message += f" Too many failed attempts: try again in {failure.retry_after_s} s."
        return _login_page(request, error=message, next_path=_safe_next(next), status=401)
    token, _csrf = accounts.open_web_session(db, actor)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/"
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, db: DbDep, principal: PasswordPage) -> Response:
    """Close the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.close_web_session(db, token)
    response = RedirectResponse("/login?why=logged+out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _login_left(principal: Principal, settings: Settings) -> dict[str, int | None]:
    seconds = None
    if principal.expires_at is not None:
        seconds = max(0, int((principal.expires_at - datetime.now(UTC)).total_seconds()))
    return {"seconds_left": seconds, "warn_seconds": settings.idle_warning_min * 60}


@router.get("/session/status", include_in_schema=False)
def session_status(principal: AnyUserPoll, settings: SettingsDep) -> dict[str, int | None]:
    """Seconds until the idle logout, for the screen's warning; asking does not count as activity."""
    return _login_left(principal, settings)


@router.post("/session/keepalive", include_in_schema=False)
def session_keepalive(principal: KeepAlive, settings: SettingsDep) -> dict[str, int | None]:
    """'Stay logged in' from the warning: counts as activity."""
    return _login_left(principal, settings)


@router.get("/session/resumed", response_class=HTMLResponse, include_in_schema=False)
def session_resumed(request: Request, principal: AnyUserPage) -> Response:
    """Where the re-login dialog's login lands: hands the new session's CSRF token to the open screen."""
    return render(request, "session_resumed.html")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, principal: AnyUserPage) -> Response:
    """The landing page: what this role can do."""
    return render(request, "home.html")


class MeOut(BaseModel):
    """Who the caller is."""

    username: str
    role: str
    permissions: list[str]


@router.get("/api/v1/me", response_model=MeOut, tags=["auth"])
def me(principal: AnyUserApi) -> MeOut:
    """The authenticated caller and their permissions."""
    return MeOut(
        username=principal.actor.username,
        role=principal.actor.role_name,
        permissions=sorted(p.value for p in Permission if principal.can(p)),
    )


class TokenCreate(BaseModel):
    """A new API token's label and lifetime (the clinic's default when left out)."""

    name: Annotated[str, Field(min_length=1, max_length=100), SingleLine]
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_API_TOKEN_DAYS)


def _token_dict(info: api_tokens.TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "prefix": info.prefix,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "last_used_at": info.last_used_at,
        "revoked_at": info.revoked_at,
        "status": info.status(datetime.now(UTC)),
    }


@router.get("/api/v1/tokens", tags=["auth"])
def list_tokens(db: DbDep, principal: TokensApi) -> list[dict[str, Any]]:
    """The caller's API tokens (never the secrets)."""
    return [_token_dict(t) for t in api_tokens.list_api_tokens(db, principal.actor)]


@router.post("/api/v1/tokens", status_code=201, tags=["auth"])
def create_token(body: TokenCreate, db: DbDep, settings: SettingsDep, principal: TokensApi) -> dict[str, Any]:
    """Issue a token; the secret is in this answer only."""
    info, secret = api_tokens.create_api_token(
        db,
        principal.actor,
        body.name,
        expires_in_days=body.expires_in_days,
        default_days=settings.api_token_days,
    )
    return {**_token_dict(info), "token": secret}


@router.delete("/api/v1/tokens/{token_id}", tags=["auth"])
def revoke_token(token_id: RecordId, db: DbDep, principal: TokensApi) -> dict[str, Any]:
    """Revoke one of the caller's tokens."""
    return _token_dict(api_tokens.revoke_api_token(db, principal.actor, token_id))


@router.get("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def tokens_page(request: Request, db: DbDep, settings: SettingsDep, principal: TokensPage) -> Response:
    """The user's tokens, with create and revoke."""
    return _tokens_screen(request, db, settings, principal)


def _tokens_screen(
    request: Request,
    db: Database,
    settings: Settings,
    principal: Principal,
    *,
    new_secret: str | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "account/tokens.html",
        status_code=status,
        tokens=api_tokens.list_api_tokens(db, principal.actor),
        new_secret=new_secret,
        error=error,
        now=datetime.now(UTC),
        default_days=settings.api_token_days,
        max_days=MAX_API_TOKEN_DAYS,
    )


@router.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def tokens_create(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: TokensPage,
    name: Annotated[str, Form(max_length=100), SingleLine] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Create a token and show its secret once."""
    try:
        days = forms.number(expires_in_days, "expires_in_days")
        if days is not None and days != int(days):
            raise InputError("give a whole number of days", field="expires_in_days")
        _info, secret = api_tokens.create_api_token(
            db,
            principal.actor,
            name,
            expires_in_days=None if days is None else int(days),
            default_days=settings.api_token_days,
        )
    except InputError as exc:
        return _tokens_screen(
            request, db, settings, principal, error=forms.error_line(exc), status=http_status(exc)
        )
    return _tokens_screen(request, db, settings, principal, new_secret=secret)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def tokens_revoke(token_id: RecordId, db: DbDep, principal: TokensPage) -> Response:
    """Revoke a token."""
    api_tokens.revoke_api_token(db, principal.actor, token_id)
    return RedirectResponse("/account/tokens", status_code=303)


@router.get("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password_page(request: Request, principal: PasswordPage) -> Response:
    """Change one's own password (the only screen after an administrator's reset)."""
    return _password_screen(request, done=request.query_params.get("done") == "1")


def _password_screen(
    request: Request, *, errors: dict[str, str] | None = None, done: bool = False, status: int = 200
) -> Response:
    return render(
        request,
        "account/password.html",
        status_code=status,
        errors=errors or {},
        done=done,
        min_length=accounts.MIN_PASSWORD_LENGTH,
    )


@router.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password_change(
    request: Request,
    db: DbDep,
    principal: PasswordPage,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set a new password; the user's other sessions end, this one carries on."""
    try:
        if new_password != confirm_password:
            raise InputError("the two new passwords differ", field="confirm_password")
        accounts.change_password(
            db,
            principal.actor,
            current_password=current_password,
            new_password=new_password,
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except (InputError, NotFoundError) as exc:
        return _password_screen(request, errors=forms.form_errors(exc), status=http_status(exc))
    target = "/" if principal.must_change_password else "/account/password?done=1"
    return RedirectResponse(target, status_code=303)
