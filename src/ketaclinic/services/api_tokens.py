"""API tokens for scripts: issued with a lifetime, stored hashed, revocable, last use kept to the minute."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.services.accounts import TOUCH_INTERVAL, actor_of, sha256_hex
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.settings import DEFAULT_API_TOKEN_DAYS, MAX_API_TOKEN_DAYS
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import ApiToken, User


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed (never the secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        """revoked, expired or active."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def validate_token_days(days: int | None, default_days: int = DEFAULT_API_TOKEN_DAYS) -> int:
    """A token lifetime in whole days, 1 to MAX_API_TOKEN_DAYS; None takes the clinic's default."""
    chosen = default_days if days is None else days
    if not 1 <= chosen <= MAX_API_TOKEN_DAYS:
        raise InputError(
            f"a token lasts 1 to {MAX_API_TOKEN_DAYS} days, got {chosen}", field="expires_in_days"
        )
    return chosen


def _label(name: str) -> str:
    label = name.strip()
    if not 1 <= len(label) <= 100:
        raise InputError("give the token a name of 1-100 characters", field="name")
    return label


def create_api_token(
    db: Database,
    actor: Actor,
    name: str,
    *,
    expires_in_days: int | None = None,
    default_days: int = DEFAULT_API_TOKEN_DAYS,
) -> tuple[TokenInfo, str]:
    """Issue a bearer token for scripts; the secret is shown once and stored only hashed."""
    require(actor, Permission.TOKENS_OWN)
    label = _label(name)
    days = validate_token_days(expires_in_days, default_days)
    if actor.user_id is None:
        raise InputError("a token belongs to a staff account", field="username")
    with db.transaction() as session:
        user = _token_holder(session, select(User).where(User.id == actor.user_id), actor.username)
        return _issue_token(session, actor, user, label, days)


def issue_api_token_for(
    db: Database,
    actor: Actor,
    username: str,
    name: str,
    *,
    expires_in_days: int | None = None,
    default_days: int = DEFAULT_API_TOKEN_DAYS,
) -> tuple[TokenInfo, str]:
    """An administrator (or the CLI) issues a token that acts as `username`."""
    require(actor, Permission.USERS_MANAGE)
    label = _label(name)
    days = validate_token_days(expires_in_days, default_days)
    wanted = username.strip().lower()
    with db.transaction() as session:
        user = _token_holder(session, select(User).where(User.username == wanted), wanted)
        return _issue_token(session, actor, user, label, days)


def _token_holder(session: Session, query: Select[User], name: str) -> User:
    """The token's user, locked: a deactivation at the same time waits, then revokes this token too."""
    user = session.execute(query.with_for_update()).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {name!r}", field="username")
    if not user.active:
        raise ConflictError(f"user {user.username!r} is deactivated", field="username")
    if not actor_of(user).can(Permission.TOKENS_OWN):
        raise ConflictError(f"role {user.role} holds no API tokens", field="username")
    return user


def _issue_token(session: Session, actor: Actor, user: User, label: str, days: int) -> tuple[TokenInfo, str]:
    secret = "kc_" + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=label,
        token_sha256=sha256_hex(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "create",
        "api_token",
        row.id,
        {
            "name": {"old": None, "new": label},
            "user_id": {"old": None, "new": user.id},
            "expires_at": {"old": None, "new": row.expires_at},
        },
    )
    return _token_info(row), secret


def _token_info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        row.id, row.name, row.prefix, row.created_at, row.expires_at, row.last_used_at, row.revoked_at
    )


def list_api_tokens(db: Database, actor: Actor) -> list[TokenInfo]:
    """The actor's own tokens."""
    require(actor, Permission.TOKENS_OWN)
    with db.read() as session:
        rows = session.execute(
            select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id)
        )
        return [_token_info(r) for r in rows.scalars()]


def revoke_api_token(db: Database, actor: Actor, token_id: int) -> TokenInfo:
    """Revoke one of the actor's tokens."""
    require(actor, Permission.TOKENS_OWN)
    with db.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != actor.user_id:
            raise NotFoundError(f"no token {token_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit(
                session,
                actor,
                "revoke",
                "api_token",
                row.id,
                {"revoked_at": {"old": None, "new": row.revoked_at}},
            )
        return _token_info(row)


# Every API call asks this: one query, built once (SQLAlchemy then reuses its compiled form and cache key).
_TOKEN_AND_USER = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_sha256 == bindparam("digest"))
)


def resolve_api_token(db: Database, secret: str) -> Actor | None:
    """The user behind a bearer token; None when unknown, revoked, expired, or the user is shut out."""
    now = utcnow()
    with db.read() as session:
        found = session.execute(_TOKEN_AND_USER, {"digest": sha256_hex(secret)}).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    if not user.active or user.must_change_password:
        return None
    # "Last used" is for spotting a forgotten or stolen token: minute precision is enough, and a write per
    # API call would put every script's reads behind the database's write lock.
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        with db.transaction() as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return actor_of(user)
