"""The clinic calendar as a value: open days and hours, closed dates, chairs and beds, nurse capacity.

Read from data/clinic_calendar.toml (every value local-policy) with the clinic's overrides on top:
a clinic_calendar.toml in its config directory, then the values set on the calendar screen.

>>> calendar = load_calendar()
>>> calendar.is_open(date(2026, 12, 7)), calendar.is_open(date(2026, 12, 5))  # a Monday, a Saturday
(True, False)
>>> calendar.nurse_capacity, [c.id for c in calendar.chairs_for(SessionKind.INPATIENT_BED)]
(4, ['bed-1'])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError

CALENDAR_FILE = "clinic_calendar.toml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = (
    "open_weekdays",
    "opens_at",
    "closes_at",
    "closed_dates",
    "chairs",
    "nurses_on_duty",
    "infusions_per_nurse",
    "checkin_min",
    "slot_min",
)
_CHAIR_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SessionKind(StrEnum):
    """What a chair or bed takes: an outpatient infusion, or an inpatient (continuous) one."""

    OUTPATIENT_CHAIR = "outpatient_chair"
    INPATIENT_BED = "inpatient_bed"


def session_kind(setting: str) -> SessionKind:
    """The kind of place a protocol's setting needs (`inpatient` -> a bed, anything else a chair)."""
    return SessionKind.INPATIENT_BED if setting == "inpatient" else SessionKind.OUTPATIENT_CHAIR


@dataclass(frozen=True, slots=True)
class Chair:
    """One chair or bed of the clinic and the kinds of session it takes."""

    id: str
    name: str
    kinds: frozenset[SessionKind]

    def to_json_dict(self) -> dict[str, object]:
        """Plain JSON values (kinds sorted)."""
        return {"id": self.id, "name": self.name, "kinds": sorted(k.value for k in self.kinds)}


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One calendar value as written (JSON-like) with where it comes from."""

    value: Any
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class ClinicCalendar:
    """The clinic's booking calendar; `entries` keeps each value's source and status for the screens."""

    open_weekdays: frozenset[int]  # 0 = Monday, as date.weekday()
    opens_at: time
    closes_at: time
    closed_dates: frozenset[date]
    chairs: tuple[Chair, ...]
    nurses_on_duty: int
    infusions_per_nurse: int
    checkin_min: int
    slot_min: int
    entries: Mapping[str, CalendarEntry]

    @property
    def nurse_capacity(self) -> int:
        """How many infusions may run at once: nurses on duty times the infusions one nurse may watch."""
        return self.nurses_on_duty * self.infusions_per_nurse

    def is_open(self, day: date) -> bool:
        """True on an open weekday that is not a closed date."""
        return day.weekday() in self.open_weekdays and day not in self.closed_dates

    def chairs_for(self, kind: SessionKind) -> tuple[Chair, ...]:
        """The chairs or beds that take `kind`, in the calendar's order."""
        return tuple(c for c in self.chairs if kind in c.kinds)

    def chair(self, chair_id: str) -> Chair | None:
        """The chair with this id, or None when the calendar no longer has it."""
        return next((c for c in self.chairs if c.id == chair_id), None)

    def opening(self, day: date, tz: tzinfo | None) -> tuple[datetime, datetime]:
        """Opening and closing of `day` as aware datetimes (`tz` None: the machine's local time)."""
        return _at(day, self.opens_at, tz), _at(day, self.closes_at, tz)


def _at(day: date, at: time, tz: tzinfo | None) -> datetime:
    if tz is None:
        return datetime.combine(day, at).astimezone()  # local time, daylight saving included
    return datetime.combine(day, at, tzinfo=tz)


def _int(value: Any, key: str, low: int, high: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DataFileError(f"{where}: {key} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _hh_mm(value: Any, key: str, where: str) -> time:
    match = _HH_MM.match(value) if isinstance(value, str) else None
    if match is None:
        raise DataFileError(f"{where}: {key} must be a time HH:MM (24-hour), got {value!r}")
    return time(int(match[1]), int(match[2]))


def _weekdays(value: Any, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(d, str) and d in WEEKDAYS for d in value):
        raise DataFileError(f"{where}: open_weekdays must be a list of {', '.join(WEEKDAYS)}, got {value!r}")
    return frozenset(WEEKDAYS.index(d) for d in value)


def _dates(value: Any, where: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise DataFileError(f"{where}: closed_dates must be a list of ISO dates")
    try:
        return frozenset(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in value)
    except ValueError:
        raise DataFileError(f"{where}: closed_dates must be ISO dates (YYYY-MM-DD), got {value!r}") from None


def _chairs(value: Any, where: str) -> tuple[Chair, ...]:
    if not isinstance(value, list) or not value:
        raise DataFileError(f"{where}: chairs must be a non-empty list of {{id, name, kinds}}")
    chairs: list[Chair] = []
    for index, item in enumerate(value):
        at = f"{where}: chairs[{index}]"
        if not isinstance(item, Mapping) or set(item) != {"id", "name", "kinds"}:
            raise DataFileError(f"{at} needs exactly id, name and kinds")
        chair_id, name, kinds = item["id"], item["name"], item["kinds"]
        if not isinstance(chair_id, str) or not _CHAIR_ID.match(chair_id):
            raise DataFileError(
                f"{at}: id must be 1-32 lower-case letters, digits or dashes, got {chair_id!r}"
            )
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 60:
            raise DataFileError(f"{at}: name must be 1-60 characters")
        known = {k.value for k in SessionKind}
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= known:
            raise DataFileError(f"{at}: kinds must be a non-empty list of {', '.join(sorted(known))}")
        chairs.append(Chair(chair_id, name.strip(), frozenset(SessionKind(k) for k in kinds)))
    ids = [c.id for c in chairs]
    if len(set(ids)) != len(ids):
        raise DataFileError(f"{where}: chair ids must be unique, got {', '.join(ids)}")
    return tuple(chairs)


def calendar_from_entries(entries: Mapping[str, CalendarEntry], where: str) -> ClinicCalendar:
    """The calendar of these entries (every key of KEYS), each value checked; a DataFileError names it."""
    missing = [k for k in KEYS if k not in entries]
    if missing:
        raise DataFileError(f"{where}: missing {', '.join(missing)}")
    value = {k: entries[k].value for k in KEYS}
    opens_at = _hh_mm(value["opens_at"], "opens_at", where)
    closes_at = _hh_mm(value["closes_at"], "closes_at", where)
    if closes_at <= opens_at:
        raise DataFileError(f"{where}: closes_at must be after opens_at")
    slot_min = _int(value["slot_min"], "slot_min", 5, 60, where)
    if 60 % slot_min:
        raise DataFileError(f"{where}: slot_min must divide an hour (5, 6, 10, 12, 15, 20, 30 or 60)")
    return ClinicCalendar(
        open_weekdays=_weekdays(value["open_weekdays"], where),
        opens_at=opens_at,
        closes_at=closes_at,
        closed_dates=_dates(value["closed_dates"], where),
        chairs=_chairs(value["chairs"], where),
        nurses_on_duty=_int(value["nurses_on_duty"], "nurses_on_duty", 1, 100, where),
        infusions_per_nurse=_int(value["infusions_per_nurse"], "infusions_per_nurse", 1, 20, where),
        checkin_min=_int(value["checkin_min"], "checkin_min", 0, 240, where),
        slot_min=slot_min,
        entries=dict(entries),
    )


def _entries(raw: Mapping[str, Any], where: str, *, default_source: str | None) -> dict[str, CalendarEntry]:
    unknown = set(raw) - set(KEYS)
    if unknown:
        raise DataFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(KEYS)}")
    out: dict[str, CalendarEntry] = {}
    for key, row in raw.items():
        if not isinstance(row, Mapping) or "value" not in row:
            raise DataFileError(f"{where}: [{key}] needs a value")
        source = row.get("source", default_source or where)
        status = row.get("status", Status.LOCAL_POLICY.value if default_source else None)
        out[key] = CalendarEntry(row["value"], str(source), parse_status(status, f"{where}: {key}"))
    return out


def load_calendar(
    override_path: Path | None = None, overrides: Mapping[str, CalendarEntry] | None = None
) -> ClinicCalendar:
    """The shipped calendar, a clinic file's keys on top, then `overrides` (the calendar screen's values)."""
    entries = _entries(load_toml(CALENDAR_FILE), CALENDAR_FILE, default_source=None)
    where = CALENDAR_FILE
    if override_path is not None and override_path.is_file():
        where = str(override_path)
        entries |= _entries(load_toml_path(override_path), where, default_source=override_path.name)
    if overrides:
        where = "the calendar screen"
        entries |= dict(overrides)
    return calendar_from_entries(entries, where)
