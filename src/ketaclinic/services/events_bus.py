"""Live events: services publish what changed inside their transaction; subscribers get it once committed.

A payload carries ids, kinds and states only, never a patient's name: a screen refetches its own
fragment. On SQLite the events go to this process's subscribers after the commit; on PostgreSQL they
ride `NOTIFY` in the writing transaction itself (delivered at commit, dropped on rollback), and every
server process listens on the database's channel, so each sees the others' events. A transaction's
events go out as one `NOTIFY` carrying a JSON array, sent as it commits (one round trip, not one each).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from ketaclinic.services.permissions import Actor, Permission
from ketaclinic.store.db import DATABASE_INFO, Database

__all__ = [
    "EVENT_KINDS",
    "EventHub",
    "LiveEvent",
    "Subscription",
    "appointment_event",
    "bus_for",
    "events_of_payload",
    "notify_payloads",
    "publish",
    "visible_to",
]

log = logging.getLogger(__name__)

# What a stream carries; every kind is about patients in care, so seeing it takes `sessions.view`.
EVENT_KINDS = ("reading", "alert", "rate", "session", "appointment")
EVENT_PERMISSION = Permission.SESSIONS_VIEW
_PENDING = "live_events_pending"
_CHANNEL = "ketaclinic_events"
QUEUE_LIMIT = 1000  # a subscriber this far behind is cut off (its page refetches when it reconnects)
NOTIFY_PAYLOAD_MAX = 7000  # bytes; PostgreSQL refuses a payload of 8000 or more
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One change: its kind, the ids it touches, the state it is in now (no names, no values)."""

    kind: str
    state: str
    session_id: int | None = None
    appointment_id: int | None = None
    alert_id: int | None = None
    observation_id: int | None = None
    day: str | None = None  # an appointment's local date (ISO), so a day board knows it is its own

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown live event kind {self.kind!r}")

    def to_json(self) -> str:
        """The payload: the fields that are set."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str) -> LiveEvent:
        """Read a payload back."""
        values: dict[str, Any] = json.loads(payload)
        return cls(**values)


def notify_payloads(events: list[LiveEvent]) -> list[str]:
    """A transaction's events as JSON arrays, each within PostgreSQL's NOTIFY payload limit."""
    payloads: list[str] = []
    batch: list[str] = []
    size = 2
    for live in events:
        one = live.to_json()
        if batch and size + len(one) + 1 > NOTIFY_PAYLOAD_MAX:
            payloads.append("[" + ",".join(batch) + "]")
            batch, size = [], 2
        batch.append(one)
        size += len(one) + 1
    if batch:
        payloads.append("[" + ",".join(batch) + "]")
    return payloads


def events_of_payload(payload: str) -> list[LiveEvent]:
    """The events of one NOTIFY payload: an array of events, or one event (a process of an older release)."""
    values: Any = json.loads(payload)
    items = values if isinstance(values, list) else [values]
    return [LiveEvent(**item) for item in items]


def appointment_event(
    appointment_id: int, status: str, starts_at: datetime, session_id: int | None
) -> LiveEvent:
    """A board change: an appointment booked, moved, ended or following its session."""
    day = starts_at.astimezone().date().isoformat()  # the clinic's local day (the server's time zone)
    return LiveEvent("appointment", status, session_id=session_id, appointment_id=appointment_id, day=day)


def visible_to(actor: Actor, _event: LiveEvent) -> bool:
    """Whether an actor may see an event: only staff who see sessions (a researcher sees nothing)."""
    return actor.can(EVENT_PERMISSION)


@dataclass(eq=False)
class Subscription:
    """One stream's queue, filled from any thread, read on the stream's event loop."""

    hub: EventHub
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[int, LiveEvent] | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False

    def offer(self, item: tuple[int, LiveEvent]) -> None:
        """Queue an event (on the loop's thread); a full queue ends the stream instead of growing."""
        if self.overflowed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)

    def close(self) -> None:
        """Stop receiving."""
        self.hub.unsubscribe(self)


class EventHub:
    """This process's subscribers: every committed event goes to each, with a sequence number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._sequence = itertools.count(1)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscription:
        """A new subscription whose queue is read on `loop`."""
        subscription = Subscription(self, loop)
        with self._lock:
            self._subscribers.add(subscription)
        self._started()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription."""
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        """How many streams are listening in this process."""
        with self._lock:
            return len(self._subscribers)

    def deliver(self, live: LiveEvent) -> None:
        """Hand a committed event to every subscriber (safe from any thread)."""
        self.deliver_all([live])

    def deliver_all(self, events: Sequence[LiveEvent]) -> None:
        """Hand committed events, in order, to every subscriber (safe from any thread).

        One wake-up per event loop, not per subscriber: a server's streams share its loop, and waking
        it once per open chart for every event cost more than the rest of the delivery.
        """
        if not events:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        with self._lock:
            items = [(next(self._sequence), live) for live in events]
            for subscription in self._subscribers:
                by_loop.setdefault(subscription.loop, []).append(subscription)
        for loop, subscriptions in by_loop.items():
            try:
                loop.call_soon_threadsafe(_offer_all, subscriptions, items)
            except RuntimeError:  # the loop has closed: its streams are gone
                for subscription in subscriptions:
                    self.unsubscribe(subscription)

    def publish(self, session: Session, live: LiveEvent) -> None:
        """Queue an event for delivery once the session's transaction commits (dropped on rollback)."""
        pending: list[LiveEvent] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            self._watch(session)
            event.listen(session, "after_rollback", _forget_pending)
        pending.append(live)

    def _watch(self, session: Session) -> None:
        """Arrange for the session's pending events to go out when it commits."""
        event.listen(session, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        self.deliver_all(session.info.pop(_PENDING, []))

    def _started(self) -> None:
        """Hook for a hub that needs a listener once someone subscribes."""

    def close(self) -> None:
        """Stop any listener."""


def _offer_all(subscriptions: list[Subscription], items: list[tuple[int, LiveEvent]]) -> None:
    for subscription in subscriptions:
        for item in items:
            subscription.offer(item)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


class PostgresEventHub(EventHub):
    """Events through `NOTIFY` in the writing transaction; one listener thread per process feeds the hub."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with db.engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        # One channel per schema: two installations (or two test runs) in one database stay apart.
        self.channel = _CHANNEL if schema in (None, "public") else f"{_CHANNEL}_{schema}"[:63]
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()

    def _watch(self, session: Session) -> None:
        """NOTIFY as the transaction commits: PostgreSQL delivers it at commit and drops it on rollback."""
        event.listen(session, "before_commit", self._notify)

    def _notify(self, session: Session) -> None:
        for payload in notify_payloads(session.info.pop(_PENDING, [])):
            session.execute(_NOTIFY, {"channel": self.channel, "payload": payload})

    def _started(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            self._stop.clear()
            self._ready.clear()
            self._listener = threading.Thread(target=self._listen, name="ketaclinic-events", daemon=True)
            self._listener.start()
        self._ready.wait(timeout=10)

    def _listen(self) -> None:
        import psycopg  # only a PostgreSQL installation needs the driver here

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{self.channel}"')
                    self._ready.set()
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._received(notice.payload)
                        with self._lock:  # nobody listens in this process: let the connection go
                            if not self._subscribers:
                                self._listener = None
                                return
            except psycopg.Error as exc:  # the database went away: listen again shortly (events meanwhile
                # are missed; a page refetches its fragments whenever its stream reconnects)
                log.warning("live events listener lost its connection: %s", exc)
                self._ready.set()
                self._stop.wait(2.0)

    def _received(self, payload: str) -> None:
        try:
            events = events_of_payload(payload)
        except (ValueError, TypeError) as exc:
            log.warning("ignored a live event that does not read: %s", exc)
            return
        self.deliver_all(events)

    def close(self) -> None:
        """Stop the listener thread."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)


def _make_hub(db: Database) -> EventHub:
    return PostgresEventHub(db) if db.dialect == "postgresql" else EventHub()


_HUBS: weakref.WeakKeyDictionary[Database, EventHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def bus_for(db: Database) -> EventHub:
    """The event hub of a database handle (one per handle, chosen by dialect)."""
    with _HUBS_LOCK:
        hub = _HUBS.get(db)
        if hub is None:
            hub = _HUBS[db] = _make_hub(db)
        return hub


def publish(session: Session, live: LiveEvent) -> None:
    """Publish from inside a service's transaction: subscribers get it only if the transaction commits."""
    handle: weakref.ref[Database] | None = session.info.get(DATABASE_INFO)
    db = handle() if handle is not None else None
    if db is None:  # a session not opened by a Database (a migration, a test helper)
        return
    bus_for(db).publish(session, live)
