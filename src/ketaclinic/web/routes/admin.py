"""Administration: staff accounts and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.inputs import SingleLine
from ketaclinic.services import accounts
from ketaclinic.services import audit as audit_service
from ketaclinic.services.permissions import Permission, Role
from ketaclinic.store.db import Database
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.forms import error_line
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [
    NavItem("Users", "/admin/users", Permission.USERS_MANAGE, order=80),
    NavItem("Audit trail", "/admin/audit", Permission.AUDIT_VIEW, order=85),
]

UsersApi = Annotated[Principal, Depends(requires(Permission.USERS_MANAGE))]
UsersPage = Annotated[Principal, Depends(requires(Permission.USERS_MANAGE, page=True))]
AuditApi = Annotated[Principal, Depends(requires(Permission.AUDIT_VIEW))]
AuditPage = Annotated[Principal, Depends(requires(Permission.AUDIT_VIEW, page=True))]


class UserCreate(BaseModel):
    """A new staff account."""

    username: Annotated[str, Field(min_length=2, max_length=64), SingleLine]
    role: Role
    password: str = Field(min_length=accounts.MIN_PASSWORD_LENGTH, max_length=1024)
    full_name: Annotated[str, Field(max_length=200), SingleLine] = ""


class PasswordReset(BaseModel):
    """A temporary password the user must change at their next login."""

    password: str = Field(min_length=accounts.MIN_PASSWORD_LENGTH, max_length=1024)


@router.get("/api/v1/users", tags=["admin"])
def api_users(db: DbDep, principal: UsersApi) -> list[dict[str, Any]]:
    """Every staff account."""
    return [row._asdict() for row in accounts.list_users(db, principal.actor)]


@router.post("/api/v1/users/{username}/deactivate", tags=["admin"])
def api_user_deactivate(username: str, db: DbDep, principal: UsersApi) -> dict[str, Any]:
    """Shut an account out: its sessions end and its API tokens are revoked at once."""
    accounts.deactivate_user(db, principal.actor, username)
    return _user_dict(db, principal, username)


@router.post("/api/v1/users/{username}/activate", tags=["admin"])
def api_user_activate(username: str, db: DbDep, principal: UsersApi) -> dict[str, Any]:
    """Let an account log in again (its old sessions and tokens stay ended)."""
    accounts.activate_user(db, principal.actor, username)
    return _user_dict(db, principal, username)


@router.post("/api/v1/users/{username}/reset-password", tags=["admin"])
def api_user_reset_password(
    username: str, body: PasswordReset, db: DbDep, principal: UsersApi
) -> dict[str, Any]:
    """Set a temporary password: the user's sessions end and they must change it at next login."""
    accounts.reset_password(db, principal.actor, username, body.password)
    return _user_dict(db, principal, username)


def _user_dict(db: Database, principal: Principal, username: str) -> dict[str, Any]:
    name = username.strip().lower()
    return next(row._asdict() for row in accounts.list_users(db, principal.actor) if row.username == name)


@router.post("/api/v1/users", status_code=201, tags=["admin"])
def api_user_create(body: UserCreate, db: DbDep, principal: UsersApi) -> dict[str, Any]:
    """Add a staff account."""
    actor = accounts.create_user(
        db,
        principal.actor,
        username=body.username,
        role=body.role.value,
        password=body.password,
        full_name=body.full_name,
    )
    return {"username": actor.username, "role": actor.role_name}


@router.get("/api/v1/audit/verify", tags=["admin"])
def api_audit_verify(db: DbDep, principal: AuditApi) -> dict[str, Any]:
    """Verify the hash chain of the audit trail."""
    report = audit_service.verify(db)
    return {
        "ok": report.ok,
        "events": report.events,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
    }


@router.get("/api/v1/audit/events", tags=["admin"])
def api_audit_events(
    db: DbDep,
    principal: AuditApi,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """The newest audit events."""
    rows = audit_service.list_events(db, principal.actor, entity=entity, entity_id=entity_id, limit=limit)
    return [_row_dict(row) for row in rows]


def _row_dict(row: audit_service.AuditRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


def _users_screen(
    request: Request,
    db: Database,
    principal: Principal,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin/users.html",
        status_code=status,
        users=accounts.list_users(db, principal.actor),
        roles=[r.value for r in Role],
        error=error,
        notice=notice,
        min_length=accounts.MIN_PASSWORD_LENGTH,
    )


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(request: Request, db: DbDep, principal: UsersPage) -> Response:
    """Staff accounts with an add form, and deactivate, activate and reset buttons."""
    return _users_screen(
        request, db, principal, notice=_NOTICES.get(request.query_params.get("done", ""), "")
    )


_NOTICES = {
    "deactivate": "Account deactivated: its logins ended and its API tokens were revoked.",
    "activate": "Account activated: the user logs in afresh; old API tokens stay revoked.",
    "reset": "Temporary password set: the user's logins ended and they must change it at next login.",
}


def _account_action(
    request: Request, db: Database, principal: Principal, action: Callable[[], None], done: str
) -> Response:
    try:
        action()
    except (InputError, ConflictError, NotFoundError) as exc:
        return _users_screen(request, db, principal, error=error_line(exc), status=http_status(exc))
    return RedirectResponse(f"/admin/users?done={done}", status_code=303)


@router.post("/admin/users/{username}/deactivate", response_class=HTMLResponse, include_in_schema=False)
def users_deactivate(request: Request, username: str, db: DbDep, principal: UsersPage) -> Response:
    """Deactivate from the users page."""
    return _account_action(
        request, db, principal, lambda: accounts.deactivate_user(db, principal.actor, username), "deactivate"
    )


@router.post("/admin/users/{username}/activate", response_class=HTMLResponse, include_in_schema=False)
def users_activate(request: Request, username: str, db: DbDep, principal: UsersPage) -> Response:
    """Activate from the users page."""
    return _account_action(
        request, db, principal, lambda: accounts.activate_user(db, principal.actor, username), "activate"
    )


@router.post("/admin/users/{username}/reset-password", response_class=HTMLResponse, include_in_schema=False)
def users_reset_password(
    request: Request,
    username: str,
    db: DbDep,
    principal: UsersPage,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set a temporary password from the users page."""
    return _account_action(
        request,
        db,
        principal,
        lambda: accounts.reset_password(db, principal.actor, username, password),
        "reset",
    )


@router.post("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def users_create(
    request: Request,
    db: DbDep,
    principal: UsersPage,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add an account from the form."""
    try:
        accounts.create_user(
            db, principal.actor, username=username, role=role, password=password, full_name=full_name
        )
    except (InputError, ConflictError) as exc:
        return _users_screen(request, db, principal, error=error_line(exc), status=http_status(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, db: DbDep, principal: AuditPage) -> Response:
    """The newest events and the chain's state."""
    report = audit_service.verify(db)
    rows = audit_service.list_events(db, principal.actor, limit=200)
    return render(request, "admin/audit.html", report=report, rows=rows)
