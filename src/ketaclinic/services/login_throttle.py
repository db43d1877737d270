"""Failed-login counters per (account name, client address): growing delays, bounded storage.

A flood of wrong passwords from one address delays that address only, so nobody can lock a clinician
out from elsewhere. Known and unknown names are throttled alike (the answers never tell them apart);
an unknown name is stored only as a keyed hash, and the rows it leaves are bounded per address and
forgotten after a day.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ketaclinic.store.audit import session_key
from ketaclinic.store.tables.accounts import LoginThrottle

FREE_FAILURES = 5
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 15 * 60
# A counter with no failure for this long is forgotten: far beyond the longest delay it can impose.
FORGET_AFTER = timedelta(hours=24)
# Unknown names kept per address: one address trying many names cannot grow the table without bound;
# past this, its oldest unknown-name counter is dropped (it already had its delays).
MAX_UNKNOWN_NAMES_PER_ADDRESS = 50
UNKNOWN_ADDRESS = "unknown"


def client_address(address: str | None) -> str:
    """The address a counter is kept under (the peer's IP as the server saw it)."""
    return (address or UNKNOWN_ADDRESS).strip()[:64] or UNKNOWN_ADDRESS


def name_key(session: Session, name: str, *, known: bool) -> str:
    """The counter's name: the username of an account, or a keyed hash of a name that is none.

    The hash is an HMAC under a key derived from the clinic's secret (never in the database), so a copy
    of the table cannot be dictionary-tested for passwords typed into the username box; 32 hex digits
    tell names apart and fit the column.
    """
    if known:
        return name
    key = hmac.new(session_key(session), b"ketaclinic login throttle", hashlib.sha256).digest()
    return "?" + hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def retry_after_s(session: Session, key: str, address: str, now: datetime) -> int:
    """Seconds this (name, address) must still wait, 0 when it may try now.

    Locks the counter's row until the transaction ends: tries of one name from one address are then
    checked and counted one at a time, also across server processes, so none is lost to a concurrent
    update and none slips past a wait that another try has just set.
    """
    row = session.get(LoginThrottle, (key, address), with_for_update=True)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return int((row.locked_until - now).total_seconds()) + 1


def delay_after(failures: int) -> int:
    """The wait after `failures` failures in a row: none at first, then doubling up to the cap."""
    over = failures - FREE_FAILURES
    return 0 if over < 0 else min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**over)


def record_failure(session: Session, key: str, address: str, *, known: bool, now: datetime) -> int:
    """Count one failure; returns the seconds to wait before the next try."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failed_at < now - FORGET_AFTER))
    row = session.get(LoginThrottle, (key, address))
    if row is None:
        if not known:
            _make_room_for_unknown_name(session, address)
        row = LoginThrottle(name_key=key, address=address, known_account=known, failures=0)
        session.add(row)
    row.failures += 1
    row.last_failed_at = now
    delay = delay_after(row.failures)
    row.locked_until = now + timedelta(seconds=delay) if delay else None
    return delay


def _make_room_for_unknown_name(session: Session, address: str) -> None:
    kept = (
        select(LoginThrottle.name_key)
        .where(LoginThrottle.address == address, LoginThrottle.known_account.is_(False))
        .order_by(LoginThrottle.last_failed_at.desc())
        .limit(MAX_UNKNOWN_NAMES_PER_ADDRESS - 1)
    )
    keep = set(session.execute(kept).scalars())
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.address == address,
            LoginThrottle.known_account.is_(False),
            LoginThrottle.name_key.not_in(keep) if keep else LoginThrottle.name_key.is_not(None),
        )
    )


def clear(session: Session, key: str, address: str) -> None:
    """A successful login from this address resets its counter (other addresses keep theirs)."""
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.name_key == key, LoginThrottle.address == address)
    )
