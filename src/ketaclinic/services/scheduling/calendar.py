"""The clinic's calendar: shipped values, the config directory's file, then the calendar screen's values."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError, InputError, StaleVersionError
from ketaclinic.scheduling import (
    CALENDAR_FILE,
    CalendarEntry,
    ClinicCalendar,
    calendar_from_entries,
    load_calendar,
)
from ketaclinic.scheduling.calendar import WEEKDAYS
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import Config
from ketaclinic.services.versions import ReadVersion, check_version, version_change
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.scheduling import ClinicCalendarRow

CALENDAR_ROW_ID = 1
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HhMm = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
ChairId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
ChairName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Kind = Literal["outpatient_chair", "inpatient_bed"]


class ChairIn(BaseModel):
    """One chair or bed as the calendar screen sets it."""

    model_config = ConfigDict(extra="forbid")
    id: ChairId
    name: ChairName
    kinds: list[Kind] = Field(min_length=1, max_length=2)


class CalendarIn(BaseModel):
    """The whole calendar as the screen saves it, with the version read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    open_weekdays: list[Weekday] = Field(max_length=7)
    opens_at: HhMm
    closes_at: HhMm
    closed_dates: list[date] = Field(default_factory=list, max_length=366)
    chairs: list[ChairIn] = Field(min_length=1, max_length=100)
    nurses_on_duty: int = Field(ge=1, le=100)
    infusions_per_nurse: int = Field(ge=1, le=20)
    checkin_min: int = Field(ge=0, le=240)
    slot_min: Literal[5, 10, 15, 20, 30, 60]


class EntryOut(BaseModel):
    """One calendar value with where it comes from."""

    value: Any
    source: str
    status: str


class CalendarOut(BaseModel):
    """The calendar in force, each value with its source, and the version the next edit names."""

    version: int
    nurse_capacity: int
    entries: dict[str, EntryOut]


def _config_file(config: Config) -> Path | None:
    config_dir = config.config_dir if isinstance(config, Settings) else config
    return None if config_dir is None else Path(config_dir) / CALENDAR_FILE


def _screen_entries(row: ClinicCalendarRow | None) -> dict[str, CalendarEntry]:
    if row is None:
        return {}
    raw = json.loads(row.entries_json)
    return {k: CalendarEntry(v["value"], v["source"], Status(v["status"])) for k, v in raw.items()}


def clinic_calendar(session: Session, config: Config) -> ClinicCalendar:
    """The calendar in force, read in the caller's transaction."""
    return load_calendar(
        _config_file(config), _screen_entries(session.get(ClinicCalendarRow, CALENDAR_ROW_ID))
    )


def _out(calendar: ClinicCalendar, row: ClinicCalendarRow | None) -> CalendarOut:
    entries = {
        key: EntryOut(value=_plain(entry.value), source=entry.source, status=entry.status.value)
        for key, entry in calendar.entries.items()
    }
    return CalendarOut(
        version=row.version if row else 1, nurse_capacity=calendar.nurse_capacity, entries=entries
    )


def _plain(value: Any) -> Any:
    """TOML dates as ISO strings, so a value reads the same from the file and from the screen."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, date) else value


def _normal(key: str, value: Any) -> Any:
    """A value in one spelling, so an unchanged one compares equal (weekday order, sorted dates and kinds)."""
    if key == "open_weekdays" and isinstance(value, list):
        return [d for d in WEEKDAYS if d in value]
    if key == "closed_dates" and isinstance(value, list):
        return sorted(set(value))
    if key == "chairs" and isinstance(value, list):
        return [c | {"kinds": sorted(c["kinds"])} if isinstance(c, dict) else c for c in value]
    return value


def view_calendar(db: Database, actor: Actor, config: Config) -> CalendarOut:
    """The calendar in force with each value's source (admins, who may change it)."""
    require(actor, Permission.CONFIG_MANAGE)
    with db.read() as session:
        return _out(clinic_calendar(session, config), session.get(ClinicCalendarRow, CALENDAR_ROW_ID))


def update_calendar(db: Database, actor: Actor, data: CalendarIn, config: Config) -> CalendarOut:
    """Set the calendar on the screen: each value differing from the one in force is recorded, audited."""
    require(actor, Permission.CONFIG_MANAGE)
    with db.transaction() as session:
        row = session.get(ClinicCalendarRow, CALENDAR_ROW_ID, with_for_update=True)
        current = clinic_calendar(session, config)
        shown = {k: _normal(k, _plain(e.value)) for k, e in current.entries.items()}
        if row is not None:
            check_version(session, "clinic_calendar", row, row.id, data.version, shown)
        elif data.version != 1:
            raise InputError(f"the calendar has no version {data.version} (it is at 1)", field="version")
        wanted = {k: _normal(k, v) for k, v in data.model_dump(mode="json", exclude={"version"}).items()}
        changed = {k: v for k, v in wanted.items() if v != shown.get(k)}
        if not changed:
            return _out(current, row)
        when = utcnow()
        source = f"set on the calendar screen by {actor.username} on {when.date().isoformat()}"
        entries = _screen_entries(row) | {
            k: CalendarEntry(v, source, Status.LOCAL_POLICY) for k, v in changed.items()
        }
        try:
            calendar = calendar_from_entries({**current.entries, **entries}, "the calendar screen")
        except DataFileError as exc:  # e.g. closing before opening
            raise InputError(
                str(exc).removeprefix("the calendar screen: "), field=_culprit(str(exc))
            ) from None
        stored = json.dumps(
            {k: {"value": e.value, "source": e.source, "status": e.status.value} for k, e in entries.items()},
            sort_keys=True,
        )
        read_version = data.version
        if row is None:  # the shipped calendar reads as version 1; the first save makes version 2
            row = ClinicCalendarRow(
                id=CALENDAR_ROW_ID, entries_json=stored, updated_by=actor.username, updated_at=when, version=2
            )
            session.add(row)
        else:
            row.entries_json, row.updated_by, row.updated_at = stored, actor.username, when
        try:
            session.flush()
        except IntegrityError:  # two first saves at once: the other one made the row
            raise StaleVersionError("clinic_calendar", read_version=1) from None
        changes: dict[str, Any] = {k: {"old": shown.get(k), "new": v} for k, v in changed.items()}
        audit(
            session, actor, "update", "clinic_calendar", row.id, changes | version_change(read_version, row)
        )
        return _out(calendar, row)


def _culprit(message: str) -> str:
    """The calendar key a message names first (the field a form marks)."""
    for key in CalendarIn.model_fields:
        if key in message:
            return key
    return "calendar"
