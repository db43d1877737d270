"""Staff accounts: Argon2 passwords, login back-off, cookie sessions with idle and absolute logout."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.services import login_throttle
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import Actor, Permission, Role, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import ApiToken, User, WebSession

PASSWORD_HASHER = PasswordHasher()
# Verified against when the username is unknown, so the answer takes as long as for a real user.
_DUMMY_HASH = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10
# Last-seen and last-used times are refreshed at most this often: a write per request would serialise
# every read behind the database's write lock (and fill the WAL with one-column updates), while idle
# logout and "last used" only need minute precision.
TOUCH_INTERVAL = timedelta(seconds=60)


class LoginFailedError(Exception):
    """Wrong username or password, or locked out; the message never says which."""

    def __init__(self, retry_after_s: int = 0) -> None:
        super().__init__("invalid username or password")
        self.retry_after_s = retry_after_s


def sha256_hex(token: str) -> str:
    """The stored form of a cookie or token secret."""
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


def validate_password(password: str, field: str = "password") -> str:
    """The house password rule: at least MIN_PASSWORD_LENGTH characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field=field)
    return password


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
    validate_password(password)
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
                must_change_password=False,
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


def _managed_user(session: Session, actor: Actor, username: str, *, doing: str) -> User:
    """The user an administrator acts on, locked for the change; never the administrator themselves."""
    name = username.strip().lower()
    user = session.execute(select(User).where(User.username == name).with_for_update()).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {name!r}", field="username")
    if actor.user_id is not None and user.id == actor.user_id:
        raise ConflictError(f"you cannot {doing} your own account", field="username")
    return user


def _end_sessions(session: Session, user_id: int, *, keep_token: str | None = None) -> int:
    """Close every web session of a user (but the one behind `keep_token`); returns how many."""
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_token is not None:
        query = query.where(WebSession.token_sha256 != sha256_hex(keep_token))
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def deactivate_user(db: Database, actor: Actor, username: str) -> None:
    """Stop a user logging in: every web session ends and every API token is revoked, at once."""
    require(actor, Permission.USERS_MANAGE)
    now = utcnow()
    with db.transaction() as session:
        user = _managed_user(session, actor, username, doing="deactivate")
        if not user.active:
            return
        user.active = False
        sessions_ended = _end_sessions(session, user.id)
        live = (ApiToken.user_id == user.id) & ApiToken.revoked_at.is_(None)
        revoked = list(session.execute(select(ApiToken.id).where(live).with_for_update()).scalars())
        session.execute(update(ApiToken).where(live).values(revoked_at=now))
        audit(
            session,
            actor,
            "deactivate",
            "user",
            user.id,
            {
                "active": {"old": True, "new": False},
                "sessions_ended": {"old": None, "new": sessions_ended},
                "tokens_revoked": {"old": None, "new": sorted(revoked)},
            },
        )


def activate_user(db: Database, actor: Actor, username: str) -> None:
    """Let a deactivated user log in again; their old sessions and tokens stay ended."""
    require(actor, Permission.USERS_MANAGE)
    with db.transaction() as session:
        user = _managed_user(session, actor, username, doing="activate")
        if user.active:
            return
        user.active = True
        audit(session, actor, "activate", "user", user.id, {"active": {"old": False, "new": True}})


def reset_password(db: Database, actor: Actor, username: str, temporary_password: str) -> None:
    """An administrator sets a temporary password: the user's sessions end and they must change it."""
    require(actor, Permission.USERS_MANAGE)
    validate_password(temporary_password)
    with db.transaction() as session:
        user = _managed_user(session, actor, username, doing="reset the password of")
        user.password_hash = PASSWORD_HASHER.hash(temporary_password)
        was_forced = user.must_change_password
        user.must_change_password = True
        sessions_ended = _end_sessions(session, user.id)
        changes: dict[str, dict[str, object]] = {"sessions_ended": {"old": None, "new": sessions_ended}}
        if not was_forced:
            changes["must_change_password"] = {"old": False, "new": True}
        audit(session, actor, "reset_password", "user", user.id, changes)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(
    db: Database, actor: Actor, *, current_password: str, new_password: str, keep_session: str | None = None
) -> None:
    """The user sets their own password; their other sessions end (the one behind `keep_session` stays)."""
    if actor.user_id is None:
        raise NotFoundError("only a staff account has a password", field="username")
    with db.transaction() as session:
        user = session.execute(
            select(User).where(User.id == actor.user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None or not user.active:
            raise NotFoundError(f"no user {actor.username!r}", field="username")
        if not _password_matches(user.password_hash, current_password):
            raise InputError("the current password is not right", field="current_password")
        validate_password(new_password, field="new_password")
        if _password_matches(user.password_hash, new_password):
            raise InputError("the new password must differ from the one it replaces", field="new_password")
        user.password_hash = PASSWORD_HASHER.hash(new_password)
        was_forced = user.must_change_password
        user.must_change_password = False
        sessions_ended = _end_sessions(session, user.id, keep_token=keep_session)
        changes: dict[str, dict[str, object]] = {"other_sessions_ended": {"old": None, "new": sessions_ended}}
        if was_forced:
            changes["must_change_password"] = {"old": True, "new": False}
        audit(session, actor, "change_password", "user", user.id, changes)


def authenticate(db: Database, username: str, password: str, *, address: str | None) -> Actor:
    """Check a password: growing delays per (name, client address), a rehash when parameters changed."""
    name = username.strip().lower()[:64]
    where = login_throttle.client_address(address)
    try:
        return _authenticate_once(db, name, password, where)
    except IntegrityError:
        # Two failures from one address for one name raced to create its counter; the loser's
        # transaction rolled back whole, and counting again now finds the winner's row.
        return _authenticate_once(db, name, password, where)


def _authenticate_once(db: Database, name: str, password: str, where: str) -> Actor:
    now = utcnow()
    with db.transaction() as session:
        user = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
        known = user is not None
        key = login_throttle.name_key(session, name, known=known)
        wait = login_throttle.retry_after_s(session, key, where, now)
        if wait:
            raise LoginFailedError(wait)
        ok = _password_matches(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not user.active or not ok:
            delay = login_throttle.record_failure(session, key, where, known=known, now=now)
            if user is not None:
                # An unknown name is not audited attempt by attempt (that would be an unbounded record of
                # whatever was typed, passwords included): its bounded counter row is the record.
                audit(
                    session, Actor(None, name, None), "login_failed", "user", user.id, reason=f"from {where}"
                )
        else:
            if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = PASSWORD_HASHER.hash(password)
                audit(session, actor_of(user), "rehash_password", "user", user.id)
            login_throttle.clear(session, key, where)
            audit(session, actor_of(user), "login", "user", user.id, reason=f"from {where}")
            return actor_of(user)
    # Committed the failure count before answering, so the delay holds even though we raise.
    raise LoginFailedError(delay)


def must_change_password(db: Database, actor: Actor) -> bool:
    """Whether the user has to set a new password before doing anything else."""
    with db.read() as session:
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        return bool(user is not None and user.must_change_password)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A resolved browser session."""

    actor: Actor
    csrf_token: str
    full_name: str
    expires_at: datetime  # the earlier of the idle logout and the absolute end
    must_change_password: bool = False


def open_web_session(db: Database, actor: Actor) -> tuple[str, str]:
    """Start a browser session; returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    with db.transaction() as session:
        session.add(
            WebSession(
                token_sha256=sha256_hex(token),
                user_id=actor.user_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
            )
        )
    return token, csrf


def resolve_web_session(
    db: Database, token: str, *, idle_timeout_min: int, max_hours: int = 12, touch: bool = True
) -> SessionInfo | None:
    """The session behind a cookie; None when unknown, idle too long or past its absolute end (then closed).

    Without `touch` (a poll, not a person) the request does not count as activity.
    """
    now = utcnow()
    digest = sha256_hex(token)
    with db.read() as session:
        row = session.execute(
            select(WebSession).where(WebSession.token_sha256 == digest)
        ).scalar_one_or_none()
        user = session.get(User, row.user_id) if row is not None else None
    if row is None:
        return None
    idle = timedelta(minutes=idle_timeout_min)
    ends_at = row.created_at + timedelta(hours=max_hours)
    expired = now - row.last_seen_at > idle or now >= ends_at
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
        expires_at=min(last_seen + idle, ends_at),
        must_change_password=user.must_change_password,
    )


def close_web_session(db: Database, token: str) -> None:
    """Log out."""
    with db.transaction() as session:
        row = session.execute(
            select(WebSession).where(WebSession.token_sha256 == sha256_hex(token))
        ).scalar_one_or_none()
        if row is not None:
            user = session.get(User, row.user_id)
            session.delete(row)
            if user is not None:
                audit(session, actor_of(user), "logout", "user", user.id)


class UserRow(NamedTuple):
    """A staff account as the users page lists it."""

    username: str
    full_name: str
    role: str
    active: bool
    must_change_password: bool


def list_users(db: Database, actor: Actor) -> list[UserRow]:
    """Every staff account."""
    require(actor, Permission.USERS_MANAGE)
    with db.read() as session:
        return [
            UserRow(u.username, u.full_name, u.role, u.active, u.must_change_password)
            for u in session.execute(select(User).order_by(User.username)).scalars()
        ]
