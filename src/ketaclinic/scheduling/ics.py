"""An iCalendar (RFC 5545) file of a patient's appointments, for the patient's own calendar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

PRODUCT_ID = "-//ketaclinic//appointments//EN"


@dataclass(frozen=True, slots=True)
class CalendarVisit:
    """One appointment as the patient's calendar shows it (no clinical detail beyond the session number)."""

    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    location: str
    cancelled: bool = False


def series_ics(visits: Sequence[CalendarVisit], *, clinic: str, stamp: datetime) -> bytes:
    """The visits as one VCALENDAR; a cancelled visit stays in it as CANCELLED so calendars drop it."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{clinic} appointments")
    for visit in visits:
        event = Event()
        event.add("uid", visit.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.ends_at)
        event.add("summary", visit.summary)
        event.add("location", visit.location)
        event.add("status", "CANCELLED" if visit.cancelled else "CONFIRMED")
        calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
