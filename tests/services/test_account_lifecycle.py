"""Accounts over their life: absolute session end, expiring tokens, deactivation, reset and forced change."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.settings import MAX_API_TOKEN_DAYS
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import ApiToken, WebSession
from ketaclinic.store.tables.audit import AuditEvent
from tests.conftest import STAFF_PASSWORD

TEMPORARY = "temporary-pass-1"
NEW_PASSWORD = "a-brand-new-pass"


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def _resolve(db: Database, token: str, max_hours: int = 12) -> accounts.SessionInfo | None:
    return accounts.resolve_web_session(db, token, idle_timeout_min=15, max_hours=max_hours)


def test_a_busy_session_still_ends_at_its_absolute_lifetime(db: Database, staff: dict[str, Actor]) -> None:
    token, _csrf = accounts.open_web_session(db, staff["nurse"])
    info = _resolve(db, token, max_hours=12)
    assert info is not None and info.expires_at - utcnow() <= timedelta(minutes=15)
    with db.transaction() as session:  # logged in 11 h 50 min ago, active a second ago
        session.execute(
            update(WebSession).values(
                created_at=utcnow() - timedelta(hours=11, minutes=50), last_seen_at=utcnow()
            )
        )
    nearly = _resolve(db, token, max_hours=12)
    assert nearly is not None
    assert timedelta(minutes=9) < nearly.expires_at - utcnow() <= timedelta(minutes=10)  # not 15: the end
    with db.transaction() as session:
        session.execute(update(WebSession).values(created_at=utcnow() - timedelta(hours=12, seconds=1)))
    assert _resolve(db, token, max_hours=12) is None
    with db.read() as session:
        assert session.execute(select(WebSession)).first() is None  # closed, not just refused


def test_a_token_expires_and_its_lifetime_is_bounded(db: Database, staff: dict[str, Actor]) -> None:
    default, secret = api_tokens.create_api_token(db, staff["nurse"], "default")
    assert timedelta(days=89, hours=23) < default.expires_at - utcnow() <= timedelta(days=90)
    short, short_secret = api_tokens.create_api_token(db, staff["nurse"], "short", expires_in_days=1)
    assert short.expires_at - short.created_at == timedelta(days=1)
    assert api_tokens.resolve_api_token(db, short_secret) == staff["nurse"]
    with db.transaction() as session:
        session.execute(
            update(ApiToken).where(ApiToken.id == short.id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api_tokens.resolve_api_token(db, short_secret) is None
    assert api_tokens.resolve_api_token(db, secret) == staff["nurse"]
    listed = {t.name: t.status(utcnow()) for t in api_tokens.list_api_tokens(db, staff["nurse"])}
    assert listed == {"default": "active", "short": "expired"}
    for bad in (0, MAX_API_TOKEN_DAYS + 1, -3):
        with pytest.raises(InputError) as caught:
            api_tokens.create_api_token(db, staff["nurse"], "bad", expires_in_days=bad)
        assert caught.value.field == "expires_in_days"
    clinic_default, _ = api_tokens.create_api_token(db, staff["nurse"], "clinic", default_days=30)
    assert clinic_default.expires_at - clinic_default.created_at == timedelta(days=30)
    created = [json.loads(e.changes_json) for e in _events(db, "create") if e.entity == "api_token"]
    assert all("expires_at" in changes for changes in created)


def test_last_use_is_written_at_most_once_a_minute(db: Database, staff: dict[str, Actor]) -> None:
    info, secret = api_tokens.create_api_token(db, staff["nurse"], "script")

    def last_used() -> object:
        with db.read() as session:
            return session.execute(select(ApiToken.last_used_at).where(ApiToken.id == info.id)).scalar_one()

    assert last_used() is None
    api_tokens.resolve_api_token(db, secret)
    first = last_used()
    assert first is not None
    api_tokens.resolve_api_token(db, secret)
    assert last_used() == first
    with db.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(seconds=61)))
    api_tokens.resolve_api_token(db, secret)
    assert last_used() != first


def test_deactivation_ends_everything_at_once_and_activation_revives_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    cookie, _csrf = accounts.open_web_session(db, staff["nurse"])
    other_cookie, _csrf = accounts.open_web_session(db, staff["nurse"])
    info, secret = api_tokens.create_api_token(db, staff["nurse"], "script")
    accounts.deactivate_user(db, staff["admin"], "nurse")
    with db.read() as session:
        assert (
            session.execute(select(WebSession).where(WebSession.user_id == staff["nurse"].user_id)).first()
            is None
        )
        revoked_at = session.execute(select(ApiToken.revoked_at).where(ApiToken.id == info.id)).scalar_one()
    assert revoked_at is not None
    [event] = _events(db, "deactivate")
    assert json.loads(event.changes_json) == {
        "active": {"old": True, "new": False},
        "sessions_ended": {"old": None, "new": 2},
        "tokens_revoked": {"old": None, "new": [info.id]},
    }
    accounts.activate_user(db, staff["admin"], "nurse")
    assert _resolve(db, cookie) is None and _resolve(db, other_cookie) is None
    assert api_tokens.resolve_api_token(db, secret) is None
    assert accounts.authenticate(db, "nurse", STAFF_PASSWORD, address="192.0.2.1") == staff["nurse"]
    assert [json.loads(e.changes_json) for e in _events(db, "activate")] == [
        {"active": {"old": False, "new": True}}
    ]


def test_account_actions_refuse_oneself_unknown_names_and_other_roles(
    db: Database, staff: dict[str, Actor]
) -> None:
    for act in (accounts.deactivate_user, accounts.activate_user):
        with pytest.raises(ConflictError, match="your own account"):
            act(db, staff["admin"], "admin")
        with pytest.raises(NotFoundError) as unknown:
            act(db, staff["admin"], "nobody")
        assert unknown.value.field == "username"
        with pytest.raises(PermissionDeniedError):
            act(db, staff["physician"], "nurse")
    with pytest.raises(ConflictError):
        accounts.reset_password(db, staff["admin"], "admin", TEMPORARY)
    with pytest.raises(InputError) as short:
        accounts.reset_password(db, staff["admin"], "nurse", "short")
    assert short.value.field == "password"
    accounts.deactivate_user(db, SYSTEM, "admin")  # the CLI's system actor is nobody's own account
    assert not next(u for u in accounts.list_users(db, SYSTEM) if u.username == "admin").active


def test_a_reset_password_must_be_changed_before_anything_else(db: Database, staff: dict[str, Actor]) -> None:
    old_cookie, _csrf = accounts.open_web_session(db, staff["nurse"])
    _info, secret = api_tokens.create_api_token(db, staff["nurse"], "script")
    accounts.reset_password(db, staff["admin"], "nurse", TEMPORARY)
    assert _resolve(db, old_cookie) is None
    with pytest.raises(accounts.LoginFailedError):
        accounts.authenticate(db, "nurse", STAFF_PASSWORD, address="192.0.2.1")
    nurse = accounts.authenticate(db, "nurse", TEMPORARY, address="192.0.2.1")
    cookie, _csrf = accounts.open_web_session(db, nurse)
    elsewhere, _csrf = accounts.open_web_session(db, nurse)
    info = _resolve(db, cookie)
    assert info is not None and info.must_change_password
    assert api_tokens.resolve_api_token(db, secret) is None  # refused until the password is changed
    with pytest.raises(InputError) as same:
        accounts.change_password(db, nurse, current_password=TEMPORARY, new_password=TEMPORARY)
    assert same.value.field == "new_password"
    with pytest.raises(InputError) as wrong:
        accounts.change_password(db, nurse, current_password="not-the-one", new_password=NEW_PASSWORD)
    assert wrong.value.field == "current_password"
    with pytest.raises(InputError) as short:
        accounts.change_password(db, nurse, current_password=TEMPORARY, new_password="short")
    assert short.value.field == "new_password"
    accounts.change_password(
        db, nurse, current_password=TEMPORARY, new_password=NEW_PASSWORD, keep_session=cookie
    )
    kept = _resolve(db, cookie)
    assert kept is not None and not kept.must_change_password
    assert _resolve(db, elsewhere) is None
    assert api_tokens.resolve_api_token(db, secret) == nurse
    assert accounts.authenticate(db, "nurse", NEW_PASSWORD, address="192.0.2.1") == nurse
    [reset] = _events(db, "reset_password")
    assert json.loads(reset.changes_json)["must_change_password"] == {"old": False, "new": True}
    [changed] = _events(db, "change_password")
    assert json.loads(changed.changes_json) == {
        "must_change_password": {"old": True, "new": False},
        "other_sessions_ended": {"old": None, "new": 1},
    }
    assert NEW_PASSWORD not in changed.changes_json and TEMPORARY not in reset.changes_json


def test_any_user_can_change_their_own_password(db: Database, staff: dict[str, Actor]) -> None:
    accounts.change_password(
        db, staff["researcher"], current_password=STAFF_PASSWORD, new_password=NEW_PASSWORD
    )
    assert accounts.authenticate(db, "researcher", NEW_PASSWORD, address=None) == staff["researcher"]
    assert not accounts.must_change_password(db, staff["researcher"])
