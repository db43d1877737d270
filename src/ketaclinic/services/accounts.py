"""Staff accounts: Argon2 passwords, login back-off, cookie sessions with idle logout, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import Actor, Permission, Role, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import ApiToken, LoginThrottle, User, WebSession

PASSWORD_HASHER = PasswordHasher()
# Verified against when the username is unknown, so the answer takes as long as for a real user.
_DUMMY_HASH = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))
FREE_FAILURES = 5
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 15 * 60
MIN_PASSWORD_LENGTH = 10
# Last-seen times are refreshed at most this often: a write per request would serialise every read
# behind the database's write lock, and idle logout only needs minute precision.
TOUCH_INTERVAL = timedelta(seconds=60)


class LoginFailedError(Exception):
    """Wrong username or password, or locked out; the message never says which."""

    def __init__(self, retry_after_s: int = 0) -> None:
        super().__init__("invalid username or password")
        self.retry_after_s = retry_after_s


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_of(user: User) -> Actor:
    """The acting identity of a user row."""
    return Actor(user_id=user.id, username=user.username, role=Role(user.role))


def validate_username(username: str) -> str:
    """Lower-case letters, digits, dot, dash and underscore; 2-64 characters."""
    name = username.strip().lower()
    if not (2 <= len(name) <= 64) or not all(c.isalnum() or c in "._-" for c in name):
        raise InputError("use 2-64 letters, digits, '.', '-' or '_'", field="username")
    return name


def create_user(
    db: Database, actor: Actor, *, username: str, role: str, password: str, full_name: str = ""
) -> Actor:
    """Add a staff member."""
    require(actor, Permission.USERS_MANAGE)
    name = validate_username(username)
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InputError(f"role must be one of {', '.join(r.value for r in Role)}", field="role") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    try:
        with db.transaction() as session:
            if session.execute(select(User.id).where(User.username == name)).first():
                raise ConflictError(f"user {name!r} already exists", field="username")
            user = User(
                username=name,
                full_name=full_name.strip(),
                role=parsed_role.value,
                password_hash=PASSWORD_HASHER.hash(password),
                active=True,
                created_at=utcnow(),
            )
            session.add(user)
            session.flush()
            audit(
                session,
                actor,
                "create",
                "user",
                user.id,
                {"username": {"old": None, "new": name}, "role": {"old": None, "new": parsed_role.value}},
            )
            return actor_of(user)
    except IntegrityError:
        raise ConflictError(f"user {name!r} already exists", field="username") from None


def deactivate_user(db: Database, actor: Actor, username: str) -> None:
    """Stop a user logging in: their web sessions end and their API tokens stop answering."""
    require(actor, Permission.USERS_MANAGE)
    name = username.strip().lower()
    with db.transaction() as session:
        user = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
        if user is None:
            raise NotFoundError(f"no user {name!r}", field="username")
        if not user.active:
            return
        user.active = False
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        audit(session, actor, "deactivate", "user", user.id, {"active": {"old": True, "new": False}})


def authenticate(db: Database, username: str, password: str) -> Actor:
    """Check a password, with back-off after repeated failures and a rehash when parameters changed."""
    name = username.strip().lower()[:64]
    now = utcnow()
    with db.transaction() as session:
        throttle = session.get(LoginThrottle, name)
        if throttle and throttle.locked_until and throttle.locked_until > now:
            raise LoginFailedError(int((throttle.locked_until - now).total_seconds()) + 1)
        user = session.execute(
            select(User).where(User.username == name, User.active.is_(True))
        ).scalar_one_or_none()
        ok = False
        try:
            ok = (
                PASSWORD_HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
                and user is not None
            )
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            throttle = throttle or LoginThrottle(username=name, failures=0)
            throttle.failures += 1
            over = throttle.failures - FREE_FAILURES
            if over >= 0:
                throttle.locked_until = now + timedelta(seconds=min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**over))
            session.add(throttle)
            audit(session, Actor(None, name, None), "login_failed", "user", name)
            failures = throttle.failures
        else:
            if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = PASSWORD_HASHER.hash(password)
                audit(session, actor_of(user), "rehash_password", "user", user.id)
            if throttle:
                session.delete(throttle)
            audit(session, actor_of(user), "login", "user", user.id)
            return actor_of(user)
    # Committed the failure count before answering, so back-off holds even though we raise.
    raise LoginFailedError(BACKOFF_BASE_S if failures >= FREE_FAILURES else 0)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A resolved browser session."""

    actor: Actor
    csrf_token: str
    full_name: str
    expires_at: datetime


def open_web_session(db: Database, actor: Actor) -> tuple[str, str]:
    """Start a browser session; returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    with db.transaction() as session:
        session.add(
            WebSession(
                token_sha256=_sha256(token),
                user_id=actor.user_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
            )
        )
    return token, csrf


def resolve_web_session(
    db: Database, token: str, *, idle_timeout_min: int, touch: bool = True
) -> SessionInfo | None:
    """The session behind a cookie; None when unknown or idle too long (then it is closed).

    Without `touch` (a poll, not a person) the request does not count as activity.
    """
    now = utcnow()
    digest = _sha256(token)
    with db.read() as session:
        row = session.execute(
            select(WebSession).where(WebSession.token_sha256 == digest)
        ).scalar_one_or_none()
        user = session.get(User, row.user_id) if row is not None else None
    if row is None:
        return None
    idle = timedelta(minutes=idle_timeout_min)
    expired = now - row.last_seen_at > idle
    last_seen = row.last_seen_at
    stale = touch and now - row.last_seen_at >= TOUCH_INTERVAL
    if expired or user is None or not user.active or stale:
        with db.transaction() as session:
            if expired or user is None or not user.active:
                session.execute(delete(WebSession).where(WebSession.token_sha256 == digest))
                return None
            session.execute(
                update(WebSession).where(WebSession.token_sha256 == digest).values(last_seen_at=now)
            )
            last_seen = now
    return SessionInfo(
        actor=actor_of(user),
        csrf_token=row.csrf_token,
        full_name=user.full_name,
        expires_at=last_seen + idle,
    )


def close_web_session(db: Database, token: str) -> None:
    """Log out."""
    with db.transaction() as session:
        row = session.execute(
            select(WebSession).where(WebSession.token_sha256 == _sha256(token))
        ).scalar_one_or_none()
        if row is not None:
            user = session.get(User, row.user_id)
            session.delete(row)
            if user is not None:
                audit(session, actor_of(user), "logout", "user", user.id)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed (never the secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def create_api_token(db: Database, actor: Actor, name: str) -> tuple[TokenInfo, str]:
    """Issue a bearer token for scripts; the secret is shown once and stored only hashed."""
    require(actor, Permission.TOKENS_OWN)
    label = name.strip()
    if not 1 <= len(label) <= 100:
        raise InputError("give the token a name of 1-100 characters", field="name")
    secret = "kc_" + secrets.token_urlsafe(32)
    with db.transaction() as session:
        row = ApiToken(
            user_id=actor.user_id,
            name=label,
            token_sha256=_sha256(secret),
            prefix=secret[:10],
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit(session, actor, "create", "api_token", row.id, {"name": {"old": None, "new": label}})
        return _token_info(row), secret


def _token_info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


def list_api_tokens(db: Database, actor: Actor) -> list[TokenInfo]:
    """The actor's own tokens."""
    require(actor, Permission.TOKENS_OWN)
    with db.transaction() as session:
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


def resolve_api_token(db: Database, secret: str) -> Actor | None:
    """The user behind a bearer token, or None when unknown or revoked."""
    now = utcnow()
    with db.read() as session:
        row = session.execute(
            select(ApiToken).where(ApiToken.token_sha256 == _sha256(secret))
        ).scalar_one_or_none()
        user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.revoked_at is not None or user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        with db.transaction() as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return actor_of(user)


def list_users(db: Database, actor: Actor) -> list[tuple[str, str, str, bool]]:
    """(username, full name, role, active) for every user."""
    require(actor, Permission.USERS_MANAGE)
    with db.transaction() as session:
        return [
            (u.username, u.full_name, u.role, u.active)
            for u in session.execute(select(User).order_by(User.username)).scalars()
        ]
