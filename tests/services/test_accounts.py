"""Accounts: Argon2 with rehash, back-off, idle sessions, revocable tokens, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.services import accounts, api_tokens, login_throttle
from ketaclinic.services.permissions import SYSTEM, Actor, Permission, Role
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User, WebSession
from ketaclinic.store.tables.audit import AuditEvent
from tests.conftest import STAFF_PASSWORD

HERE = "192.0.2.10"


def test_login_with_right_password(db: Database, staff: dict[str, Actor]) -> None:
    actor = accounts.authenticate(db, "Nurse", STAFF_PASSWORD, address=HERE)
    assert actor.role is Role.NURSE


@pytest.mark.parametrize(("username", "password"), [("nurse", "wrong-password"), ("nobody", STAFF_PASSWORD)])
def test_wrong_password_and_unknown_user_fail_alike(
    db: Database, staff: dict[str, Actor], username: str, password: str
) -> None:
    with pytest.raises(accounts.LoginFailedError, match="invalid username or password"):
        accounts.authenticate(db, username, password, address=HERE)


def test_back_off_after_repeated_failures_even_with_right_password(
    db: Database, staff: dict[str, Actor]
) -> None:
    for _ in range(login_throttle.FREE_FAILURES):
        with pytest.raises(accounts.LoginFailedError):
            accounts.authenticate(db, "nurse", "wrong-password", address=HERE)
    with pytest.raises(accounts.LoginFailedError) as locked:
        accounts.authenticate(db, "nurse", STAFF_PASSWORD, address=HERE)
    assert locked.value.retry_after_s > 0


def test_hash_is_upgraded_when_parameters_change(db: Database, staff: dict[str, Actor]) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(STAFF_PASSWORD)
    with db.transaction() as session:
        session.execute(update(User).where(User.username == "nurse").values(password_hash=weak))
    accounts.authenticate(db, "nurse", STAFF_PASSWORD, address=HERE)
    with db.transaction() as session:
        stored = session.execute(select(User.password_hash).where(User.username == "nurse")).scalar_one()
        actions = session.execute(select(AuditEvent.action)).scalars().all()
    assert stored != weak
    assert not accounts.PASSWORD_HASHER.check_needs_rehash(stored)
    assert "rehash_password" in actions


def test_user_creation_rules(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(ConflictError):
        accounts.create_user(db, SYSTEM, username="nurse", role="nurse", password=STAFF_PASSWORD)
    with pytest.raises(InputError) as bad_role:
        accounts.create_user(db, SYSTEM, username="newbie", role="surgeon", password=STAFF_PASSWORD)
    assert bad_role.value.field == "role"
    with pytest.raises(InputError):
        accounts.create_user(db, SYSTEM, username="newbie", role="nurse", password="short")
    with pytest.raises(PermissionDeniedError):
        accounts.create_user(db, staff["physician"], username="newbie", role="nurse", password=STAFF_PASSWORD)


def test_session_expires_when_idle(db: Database, staff: dict[str, Actor]) -> None:
    token, csrf = accounts.open_web_session(db, staff["nurse"])
    info = accounts.resolve_web_session(db, token, idle_timeout_min=15)
    assert info is not None and info.csrf_token == csrf
    with db.transaction() as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    assert accounts.resolve_web_session(db, token, idle_timeout_min=15) is None
    assert accounts.resolve_web_session(db, token, idle_timeout_min=15) is None


def test_api_token_lifecycle(db: Database, staff: dict[str, Actor]) -> None:
    info, secret = api_tokens.create_api_token(db, staff["researcher"], "notebook")
    assert api_tokens.resolve_api_token(db, secret) == staff["researcher"]
    assert api_tokens.resolve_api_token(db, secret + "x") is None
    api_tokens.revoke_api_token(db, staff["researcher"], info.id)
    assert api_tokens.resolve_api_token(db, secret) is None
    with db.transaction() as session:
        actions = (
            session.execute(
                select(AuditEvent.action).where(AuditEvent.entity == "api_token").order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )
    assert actions == ["create", "revoke"]


def test_an_actor_with_no_role_holds_no_permission() -> None:
    nobody = Actor(user_id=None, username="patient-link:1", role=None)
    assert not any(nobody.can(permission) for permission in Permission)
    assert nobody.role_name == "none"
    assert all(SYSTEM.can(permission) for permission in Permission)
    assert SYSTEM.role_name == "system"


def test_a_deactivated_user_is_shut_out_everywhere(db: Database, staff: dict[str, Actor]) -> None:
    token, _csrf = accounts.open_web_session(db, staff["nurse"])
    _info, secret = api_tokens.create_api_token(db, staff["nurse"], "script")
    with pytest.raises(PermissionDeniedError):
        accounts.deactivate_user(db, staff["physician"], "nurse")
    with pytest.raises(NotFoundError):
        accounts.deactivate_user(db, staff["admin"], "nobody")
    accounts.deactivate_user(db, staff["admin"], "Nurse")
    accounts.deactivate_user(db, staff["admin"], "nurse")  # already inactive: nothing more happens
    assert accounts.resolve_web_session(db, token, idle_timeout_min=15) is None
    assert api_tokens.resolve_api_token(db, secret) is None
    with pytest.raises(accounts.LoginFailedError):
        accounts.authenticate(db, "nurse", STAFF_PASSWORD, address=HERE)
    assert ("nurse", "Nurse", "nurse", False, False) in accounts.list_users(db, staff["admin"])
    with db.read() as session:
        events = session.execute(select(AuditEvent).where(AuditEvent.action == "deactivate")).scalars().all()
    assert [(e.actor, e.entity) for e in events] == [("admin", "user")]
