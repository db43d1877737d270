"""Live events: published by the services once their transaction commits, never on rollback, both backends;
on PostgreSQL a second database handle (another server process's worth) sees them through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ketaclinic.errors import InputError
from ketaclinic.services import events_bus
from ketaclinic.services.events_bus import LiveEvent, Subscription, bus_for, publish
from ketaclinic.services.permissions import Actor
from ketaclinic.services.scheduling import booking as scheduling
from ketaclinic.services.sessions import alerts, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import poll_alerts
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import TEST_AUDIT_KEY, database_url
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, checked_in_session

HYPERTENSIVE = {"sbp": 185, "dbp": 96, "hr": 80, "spo2": 97}


class Listener:
    """A subscription read from a private event loop (what a stream does, without HTTP)."""

    def __init__(self, db: Database) -> None:
        self.loop = asyncio.new_event_loop()
        self.subscription: Subscription = bus_for(db).subscribe(self.loop)

    def take(self, wait_s: float = 0.3) -> list[LiveEvent]:
        """Every event that arrives until `wait_s` passes without one."""

        async def gather() -> list[LiveEvent]:
            got: list[LiveEvent] = []
            while True:
                try:
                    item = await asyncio.wait_for(self.subscription.queue.get(), timeout=wait_s)
                except TimeoutError:
                    return got
                assert item is not None
                got.append(item[1])

        return self.loop.run_until_complete(gather())

    def close(self) -> None:
        """Unsubscribe and close the loop."""
        self.subscription.close()
        self.loop.close()


@pytest.fixture
def listener(db: Database) -> Iterator[Listener]:
    """A subscriber on the test database's hub."""
    made = Listener(db)
    yield made
    made.close()


def _wait(db: Database) -> float:
    return 2.0 if db.dialect == "postgresql" else 0.3  # NOTIFY goes through the server and a thread


def _running(db: Database, staff: dict[str, Actor], mrn: str) -> int:
    sid = checked_in_session(db, staff, mrn=mrn)
    rate = infusion_rates.RateIn(rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=5))
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
    return sid


def test_a_start_a_reading_and_its_alert_are_published_once_committed(
    db: Database, staff: dict[str, Actor], listener: Listener
) -> None:
    sid = _running(db, staff, "E-1")
    started = listener.take(_wait(db))
    assert ("session", "running", sid) in [(e.kind, e.state, e.session_id) for e in started]
    assert ("rate", "start", sid) in [(e.kind, e.state, e.session_id) for e in started]
    stored = chart_observation(db, staff["nurse"], sid, HYPERTENSIVE, config=None)
    got = listener.take(_wait(db))
    kinds = [(e.kind, e.state) for e in got]
    assert ("reading", "running") in kinds and ("alert", "open") in kinds
    reading = next(e for e in got if e.kind == "reading")
    assert reading.session_id == sid and reading.observation_id == stored.id
    alert = next(e for e in got if e.kind == "alert")
    assert alert.session_id == sid and alert.alert_id is not None
    assert "patient" not in reading.to_json() and "name" not in reading.to_json()  # ids and states only


def test_an_acknowledgement_is_published_with_the_alert_state(
    db: Database, staff: dict[str, Actor], listener: Listener
) -> None:
    sid = _running(db, staff, "E-2")
    chart_observation(db, staff["nurse"], sid, HYPERTENSIVE, config=None)
    (alert,) = poll_alerts(db, staff["nurse"], sid, config=None)
    listener.take(_wait(db))
    alerts.acknowledge_alert(db, staff["nurse"], sid, alert.id, alerts.AckIn(action=alert.actions[0].key))
    got = listener.take(_wait(db))
    assert [(e.kind, e.state, e.alert_id) for e in got] == [("alert", "acknowledged", alert.id)]


def test_a_refused_write_publishes_nothing(db: Database, staff: dict[str, Actor], listener: Listener) -> None:
    sid = _running(db, staff, "E-3")
    listener.take(_wait(db))
    with pytest.raises(InputError):
        chart_observation(db, staff["nurse"], sid, {"spo2": 140}, config=None)
    with pytest.raises(RuntimeError), db.transaction() as session:
        publish(session, LiveEvent("session", "running", session_id=sid))
        raise RuntimeError("rolled back after publishing")
    assert listener.take(_wait(db)) == []
    with db.transaction() as session:  # the same publish, committed, arrives
        publish(session, LiveEvent("session", "running", session_id=sid))
    assert [e.session_id for e in listener.take(_wait(db))] == [sid]


def test_booking_a_series_publishes_each_appointment_for_its_day(
    db: Database, staff: dict[str, Actor], listener: Listener
) -> None:
    plan_id = factories.approved_plan(db, staff, mrn="E-4", protocol_id="schwartzman2009")
    booked = scheduling.book_series(db, staff["nurse"], scheduling.BookSeriesIn(plan_id=plan_id), config=None)
    got = [e for e in listener.take(_wait(db)) if e.kind == "appointment"]
    assert sorted(e.appointment_id or 0 for e in got) == sorted(a.id for a in booked)
    first = next(e for e in got if e.appointment_id == booked[0].id)
    assert first.state == "booked" and first.day == booked[0].starts_at.astimezone().date().isoformat()


def test_a_researcher_sees_no_event_a_nurse_does(staff: dict[str, Actor]) -> None:
    live = LiveEvent("alert", "open", session_id=1, alert_id=2)
    assert events_bus.visible_to(staff["nurse"], live)
    assert events_bus.visible_to(staff["physician"], live)
    assert not events_bus.visible_to(staff["researcher"], live)
    assert not events_bus.visible_to(staff["admin"], live)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown live event kind"):
        LiveEvent("gossip", "open")


def test_postgres_notify_reaches_another_database_handle(db: Database, staff: dict[str, Actor]) -> None:
    if db.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite serves one process")
    other = Database.from_url(database_url(db), audit_key=TEST_AUDIT_KEY)  # a second server process's handle
    far = Listener(other)
    try:
        assert isinstance(bus_for(other), events_bus.PostgresEventHub)
        sid = _running(db, staff, "E-5")
        got = far.take(2.0)
        assert ("session", "running", sid) in [(e.kind, e.state, e.session_id) for e in got]
        with pytest.raises(RuntimeError), db.transaction() as session:
            publish(session, LiveEvent("session", "paused", session_id=sid))
            raise RuntimeError("rolled back")
        assert far.take(1.0) == []
    finally:
        far.close()
        bus_for(other).close()
        other.dispose()


def test_a_move_tells_the_day_it_leaves_and_the_day_it_moves_to(
    db: Database, staff: dict[str, Actor], listener: Listener
) -> None:
    from ketaclinic.services.scheduling import changes

    plan_id = factories.approved_plan(db, staff, mrn="E-6", protocol_id="valle2024")
    booked = scheduling.book_series(db, staff["nurse"], scheduling.BookSeriesIn(plan_id=plan_id), config=None)
    last = booked[-1]
    listener.take(_wait(db))
    later = last.starts_at + timedelta(days=7)
    changes.move(db, staff["nurse"], last.id, changes.MoveIn(version=last.version, starts_at=later), None)
    days = {e.day for e in listener.take(_wait(db)) if e.appointment_id == last.id}
    assert days == {last.starts_at.astimezone().date().isoformat(), later.astimezone().date().isoformat()}
