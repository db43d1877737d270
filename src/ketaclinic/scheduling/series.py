"""Series feasibility: the earliest slots for a plan's remaining sessions on chairs and nurses.

An appointment holds its chair from check-in to the end of the minimum recovery, and one unit of
nurse capacity while its infusion runs. Times live on a grid of `slot_min` steps counted from the
Unix epoch in UTC, so the same slot of a chair has one key everywhere (the store's occupancy rows).

>>> from datetime import timezone
>>> from ketaclinic.scheduling import load_calendar
>>> calendar = load_calendar()
>>> length = AppointmentLength(checkin_min=30, infusion_min=40, recovery_min=30)
>>> monday = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
>>> items = [SeriesItem(n, length) for n in range(1, 7)]
>>> series = propose_series(calendar, SessionKind.OUTPATIENT_CHAIR, items, 1, monday, (), timezone.utc)
>>> [s.starts_at.strftime("%a %H:%M") for s in series]  # Mon-Fri, then Monday again
['Mon 08:00', 'Tue 08:00', 'Wed 08:00', 'Thu 08:00', 'Fri 08:00', 'Mon 08:00']
>>> {s.chair_id for s in series}
{'chair-1'}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.scheduling.calendar import ClinicCalendar, SessionKind

# How far ahead a series is searched for: an engineering bound on the search, not a clinical number.
SEARCH_DAYS = 180
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = [
    "SEARCH_DAYS",
    "AppointmentLength",
    "Occupancy",
    "SeriesItem",
    "Slot",
    "earliest_slot",
    "grid",
    "next_not_before",
    "propose_series",
]


@dataclass(frozen=True, slots=True)
class AppointmentLength:
    """Check-in, the protocol's infusion and the minimum recovery, in minutes."""

    checkin_min: float
    infusion_min: float
    recovery_min: float

    def __post_init__(self) -> None:
        if min(self.checkin_min, self.infusion_min, self.recovery_min) < 0:
            raise InputError("check-in, infusion and recovery minutes must not be negative", field="length")

    @property
    def total_min(self) -> float:
        """From arrival to discharge readiness."""
        return self.checkin_min + self.infusion_min + self.recovery_min


@dataclass(frozen=True, slots=True)
class SeriesItem:
    """One session to place: its number, its appointment length and, when set, its earliest start."""

    session_number: int
    length: AppointmentLength
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One appointment's times on one chair: arrival, the infusion's start and end, discharge readiness."""

    chair_id: str
    starts_at: datetime
    infusion_starts_at: datetime
    infusion_ends_at: datetime
    ends_at: datetime
    session_number: int = 0

    @classmethod
    def at(
        cls, chair_id: str, starts_at: datetime, length: AppointmentLength, session_number: int = 0
    ) -> Slot:
        """The slot of an appointment of `length` arriving at `starts_at`."""
        infusion_starts_at = starts_at + timedelta(minutes=length.checkin_min)
        infusion_ends_at = infusion_starts_at + timedelta(minutes=length.infusion_min)
        ends_at = infusion_ends_at + timedelta(minutes=length.recovery_min)
        return cls(chair_id, starts_at, infusion_starts_at, infusion_ends_at, ends_at, session_number)


def _floor(at: datetime, slot_min: int) -> datetime:
    step = slot_min * 60
    seconds = math.floor((at - _EPOCH).total_seconds() / step) * step
    return _EPOCH + timedelta(seconds=seconds)


def _ceil(at: datetime, slot_min: int) -> datetime:
    step = slot_min * 60
    seconds = math.ceil((at - _EPOCH).total_seconds() / step) * step
    return _EPOCH + timedelta(seconds=seconds)


def grid(start: datetime, end: datetime, slot_min: int) -> tuple[datetime, ...]:
    """The UTC grid steps that [start, end) touches (empty when end <= start)."""
    if end <= start:
        return ()
    at, last = _floor(start, slot_min), end
    steps: list[datetime] = []
    while at < last:
        steps.append(at)
        at += timedelta(minutes=slot_min)
    return tuple(steps)


@dataclass(slots=True)
class Occupancy:
    """Which grid steps each chair holds, and how many infusions run in each step."""

    slot_min: int
    chairs: dict[str, set[datetime]] = field(default_factory=dict)
    running: Counter[datetime] = field(default_factory=Counter)

    @classmethod
    def of(cls, slot_min: int, booked: Iterable[Slot]) -> Occupancy:
        """The occupancy of existing appointments."""
        occupancy = cls(slot_min)
        for slot in booked:
            occupancy.add(slot)
        return occupancy

    def chair_steps(self, slot: Slot) -> tuple[datetime, ...]:
        """The steps a slot holds its chair: arrival to discharge readiness."""
        return grid(slot.starts_at, slot.ends_at, self.slot_min)

    def infusion_steps(self, slot: Slot) -> tuple[datetime, ...]:
        """The steps a slot's infusion runs (what a nurse watches)."""
        return grid(slot.infusion_starts_at, slot.infusion_ends_at, self.slot_min)

    def add(self, slot: Slot) -> None:
        """Hold the slot's chair steps and count its infusion steps."""
        self.chairs.setdefault(slot.chair_id, set()).update(self.chair_steps(slot))
        self.running.update(self.infusion_steps(slot))

    def fits(self, slot: Slot, nurse_capacity: int) -> bool:
        """True when the chair is free for the whole slot and no infusion step exceeds the capacity."""
        held = self.chairs.get(slot.chair_id, set())
        if any(step in held for step in self.chair_steps(slot)):
            return False
        return all(self.running[step] < nurse_capacity for step in self.infusion_steps(slot))


def _local_day(at: datetime, tz: tzinfo | None) -> date:
    return (at.astimezone() if tz is None else at.astimezone(tz)).date()


def earliest_slot(
    calendar: ClinicCalendar,
    length: AppointmentLength,
    kind: SessionKind,
    not_before: datetime,
    occupancy: Occupancy,
    tz: tzinfo | None,
    *,
    session_number: int = 0,
    search_days: int = SEARCH_DAYS,
) -> Slot | None:
    """The earliest slot from `not_before` on an open day, on a free chair of `kind`, within nurse capacity.

    An outpatient appointment starts and ends within the day's opening hours; an inpatient bed's
    starts within them and runs on. None when nothing fits within `search_days`.
    """
    chairs = calendar.chairs_for(kind)
    if not chairs:
        return None
    first = _local_day(not_before, tz)
    step = timedelta(minutes=calendar.slot_min)
    for offset in range(search_days):
        day = first + timedelta(days=offset)
        if not calendar.is_open(day):
            continue
        opens, closes = calendar.opening(day, tz)
        at = _ceil(max(opens, not_before), calendar.slot_min)
        while at < closes:
            if kind is SessionKind.OUTPATIENT_CHAIR and Slot.at("", at, length).ends_at > closes:
                break  # later starts of the day end later still
            for chair in chairs:
                slot = Slot.at(chair.id, at, length, session_number)
                if occupancy.fits(slot, calendar.nurse_capacity):
                    return slot
            at += step
    return None


def propose_series(
    calendar: ClinicCalendar,
    kind: SessionKind,
    items: Sequence[SeriesItem],
    interval_days: float,
    earliest: datetime,
    booked: Iterable[Slot],
    tz: tzinfo | None,
    *,
    search_days: int = SEARCH_DAYS,
) -> tuple[Slot, ...]:
    """The earliest feasible slots for `items`, in order, at least `interval_days` apart.

    Each session takes the earliest slot on the first open day at least the interval after the
    previous one (an interval of 0: after the previous one ends), and not before its own
    `not_before`. A ConflictError names the first session that finds no slot within `search_days`.
    """
    if interval_days < 0:
        raise InputError("the interval must not be negative", field="interval_days")
    if earliest.tzinfo is None:
        raise InputError("the earliest start must carry its time zone", field="from")
    occupancy = Occupancy.of(calendar.slot_min, booked)
    proposed: list[Slot] = []
    not_before = earliest
    for item in items:
        start = not_before if item.not_before is None else max(not_before, item.not_before)
        slot = earliest_slot(
            calendar,
            item.length,
            kind,
            start,
            occupancy,
            tz,
            session_number=item.session_number,
            search_days=search_days,
        )
        if slot is None:
            raise ConflictError(
                f"no {kind.value.replace('_', ' ')} is free for session {item.session_number} within "
                f"{search_days} days of {_local_day(start, tz).isoformat()} (open days, chairs, nurses)",
                field="from",
            )
        occupancy.add(slot)
        proposed.append(slot)
        not_before = next_not_before(slot, interval_days, calendar, tz)
    return tuple(proposed)


def next_not_before(
    slot: Slot, interval_days: float, calendar: ClinicCalendar, tz: tzinfo | None
) -> datetime:
    """Where the next session's search starts: the interval's day at opening, or the slot's end."""
    if interval_days <= 0:
        return slot.ends_at
    day = _local_day(slot.starts_at, tz) + timedelta(days=math.ceil(interval_days))
    return max(slot.ends_at, calendar.opening(day, tz)[0])
