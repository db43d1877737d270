"""Administration: staff accounts and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaclinic.errors import ConflictError, InputError, http_status
from ketaclinic.inputs import SingleLine
from ketaclinic.services import accounts
from ketaclinic.services import audit as audit_service
from ketaclinic.services.permissions import Permission, Role
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


@router.get("/api/v1/users", tags=["admin"])
def api_users(db: DbDep, principal: UsersApi) -> list[dict[str, Any]]:
    """Every staff account."""
    return [
        {"username": u, "full_name": n, "role": r, "active": a}
        for u, n, r, a in accounts.list_users(db, principal.actor)
    ]


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


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(request: Request, db: DbDep, principal: UsersPage) -> Response:
    """Staff accounts with an add form."""
    return render(
        request,
        "admin/users.html",
        users=accounts.list_users(db, principal.actor),
        roles=[r.value for r in Role],
        error="",
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
        return render(
            request,
            "admin/users.html",
            status_code=http_status(exc),
            users=accounts.list_users(db, principal.actor),
            roles=[r.value for r in Role],
            error=error_line(exc),
        )
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, db: DbDep, principal: AuditPage) -> Response:
    """The newest events and the chain's state."""
    report = audit_service.verify(db)
    rows = audit_service.list_events(db, principal.actor, limit=200)
    return render(request, "admin/audit.html", report=report, rows=rows)
