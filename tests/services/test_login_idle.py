"""The idle logout: a poll (touch=False) is not activity; expiry is the last activity plus the timeout."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ketaclinic.services import accounts
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import WebSession
from tests.login_support import idle_for, last_seen

IDLE_MIN = 15


def test_a_poll_leaves_the_idle_clock_and_a_person_resets_it(db: Database, staff: dict[str, Actor]) -> None:
    token, _csrf = accounts.open_web_session(db, staff["nurse"])
    idle_for(db, 10)
    before = last_seen(db)
    polled = accounts.resolve_web_session(db, token, idle_timeout_min=IDLE_MIN, touch=False)
    assert polled is not None and last_seen(db) == before
    assert timedelta(minutes=4) < polled.expires_at - utcnow() <= timedelta(minutes=5)
    acted = accounts.resolve_web_session(db, token, idle_timeout_min=IDLE_MIN)
    assert acted is not None and last_seen(db) != before
    assert acted.expires_at - utcnow() > timedelta(minutes=14)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Not within a few seconds of the timeout: the clock runs on while the test asks.
@given(
    idle_min=st.floats(min_value=1.5, max_value=30).filter(lambda m: abs(m - IDLE_MIN) > 0.1),
    polls=st.integers(min_value=1, max_value=4),
)
def test_polling_never_keeps_a_login_alive(
    db: Database, staff: dict[str, Actor], idle_min: float, polls: int
) -> None:
    token, _csrf = accounts.open_web_session(db, staff["nurse"])
    idle_for(db, idle_min)
    before = last_seen(db)
    for _ in range(polls):
        info = accounts.resolve_web_session(db, token, idle_timeout_min=IDLE_MIN, touch=False)
        if idle_min > IDLE_MIN:
            assert info is None and last_seen(db) == []  # expired: closed, whoever asks
            return
        assert info is not None and last_seen(db) == before
        assert [info.expires_at] == [seen + timedelta(minutes=IDLE_MIN) for seen in before]  # type: ignore[operator]
    with db.transaction() as session:
        session.execute(delete(WebSession))
