"""Login back-off per (account, address): one address's flood never locks the real user out elsewhere."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from ketaclinic.services import accounts, login_throttle
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import LoginThrottle
from ketaclinic.store.tables.audit import AuditEvent
from tests.conftest import STAFF_PASSWORD, TEST_AUDIT_KEY, database_url

ATTACKER = "203.0.113.66"
NURSES_STATION = "192.0.2.20"


def _fail(db: Database, name: str, address: str, password: str = "wrong-password") -> int:
    with pytest.raises(accounts.LoginFailedError) as failed:
        accounts.authenticate(db, name, password, address=address)
    return failed.value.retry_after_s


def _rows(db: Database) -> list[LoginThrottle]:
    with db.read() as session:
        return list(session.execute(select(LoginThrottle)).scalars())


def test_a_flood_from_one_address_does_not_lock_the_user_elsewhere(
    db: Database, staff: dict[str, Actor]
) -> None:
    for _ in range(login_throttle.FREE_FAILURES + 2):
        _fail(db, "nurse", ATTACKER)
    assert _fail(db, "nurse", ATTACKER, STAFF_PASSWORD) > 0  # the right password waits too, from there
    assert accounts.authenticate(db, "nurse", STAFF_PASSWORD, address=NURSES_STATION) == staff["nurse"]
    assert [(r.name_key, r.address) for r in _rows(db)] == [("nurse", ATTACKER)]  # success cleared its own


def test_delays_grow_per_key_up_to_the_cap(db: Database, staff: dict[str, Actor]) -> None:
    delays = []
    for _ in range(login_throttle.FREE_FAILURES + 3):
        delays.append(_fail(db, "physician", ATTACKER))
        with db.transaction() as session:  # let the wait pass, so the next try is counted, not refused
            session.execute(update(LoginThrottle).values(locked_until=None))
    base = login_throttle.BACKOFF_BASE_S
    assert delays == [0] * (login_throttle.FREE_FAILURES - 1) + [base, 2 * base, 4 * base, 8 * base]
    assert login_throttle.delay_after(100) == login_throttle.BACKOFF_MAX_S


def test_unknown_and_known_names_answer_alike(db: Database, staff: dict[str, Actor]) -> None:
    known = [_fail(db, "nurse", ATTACKER) for _ in range(login_throttle.FREE_FAILURES + 1)]
    unknown = [_fail(db, "nobody", ATTACKER) for _ in range(login_throttle.FREE_FAILURES + 1)]
    assert [d > 0 for d in known] == [d > 0 for d in unknown]


def test_unknown_names_are_kept_hashed_bounded_and_never_audited(
    db: Database, staff: dict[str, Actor]
) -> None:
    typed = "Correct-Horse-Battery"  # a password typed into the username box
    _fail(db, typed, ATTACKER)
    [row] = _rows(db)
    assert row.name_key.startswith("?") and typed.lower() not in row.name_key and not row.known_account
    with db.read() as session:
        stored = " ".join(
            f"{e.actor} {e.entity_id} {e.changes_json} {e.reason}"
            for e in session.execute(select(AuditEvent)).scalars()
        )
    assert typed.lower() not in stored
    for n in range(login_throttle.MAX_UNKNOWN_NAMES_PER_ADDRESS + 15):
        _fail(db, f"guess{n}", ATTACKER)
    _fail(db, "nobody", NURSES_STATION)
    with db.read() as session:
        per_address = dict(
            session.execute(select(LoginThrottle.address, func.count()).group_by(LoginThrottle.address)).all()
        )
    assert per_address == {ATTACKER: login_throttle.MAX_UNKNOWN_NAMES_PER_ADDRESS, NURSES_STATION: 1}


def test_known_account_failures_are_audited_with_the_address(db: Database, staff: dict[str, Actor]) -> None:
    _fail(db, "nurse", ATTACKER)
    with db.read() as session:
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "login_failed")).scalars()
    assert (event.entity, event.entity_id, event.reason) == (
        "user",
        str(staff["nurse"].user_id),
        f"from {ATTACKER}",
    )


def test_old_counters_are_forgotten(db: Database, staff: dict[str, Actor]) -> None:
    for _ in range(3):
        _fail(db, "nurse", ATTACKER)
    with db.transaction() as session:
        session.execute(
            update(LoginThrottle).values(last_failed_at=utcnow() - login_throttle.FORGET_AFTER - timedelta(1))
        )
    _fail(db, "physician", NURSES_STATION)
    assert [(r.name_key, r.failures) for r in _rows(db)] == [("physician", 1)]


def test_failures_from_two_server_processes_at_once_are_each_counted_and_the_wait_holds(
    db: Database, staff: dict[str, Actor]
) -> None:
    other = Database.from_url(database_url(db), audit_key=TEST_AUDIT_KEY)  # a second process's handle
    try:
        _fail(db, "nurse", ATTACKER)  # the counter row exists: what follows races on it, not on its insert
        tries = 2 * login_throttle.FREE_FAILURES
        start = threading.Barrier(tries)

        def attempt(n: int) -> int:
            start.wait()
            return _fail(other if n % 2 else db, "nurse", ATTACKER)

        with ThreadPoolExecutor(max_workers=tries) as pool:
            list(pool.map(attempt, range(tries)))
    finally:
        other.dispose()
    # Serial on the counter's row: exactly FREE_FAILURES tries were checked and counted (none lost to a
    # concurrent update), the last of them set the wait, and every later try was refused uncounted.
    [row] = _rows(db)
    assert row.failures == login_throttle.FREE_FAILURES
    assert row.locked_until is not None
