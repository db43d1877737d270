"""Scheduling: the clinic calendar, chairs and nurse capacity, and series feasibility (pure, no database)."""

from ketaclinic.scheduling.calendar import (
    CALENDAR_FILE,
    CalendarEntry,
    Chair,
    ClinicCalendar,
    SessionKind,
    calendar_from_entries,
    load_calendar,
    session_kind,
)
from ketaclinic.scheduling.series import (
    SEARCH_DAYS,
    AppointmentLength,
    Occupancy,
    SeriesItem,
    Slot,
    earliest_slot,
    grid,
    next_not_before,
    propose_series,
)
from ketaclinic.scheduling.states import HOLDING, OPEN, AppointmentStatus, can_move_to

__all__ = [
    "CALENDAR_FILE",
    "HOLDING",
    "OPEN",
    "SEARCH_DAYS",
    "AppointmentLength",
    "AppointmentStatus",
    "CalendarEntry",
    "Chair",
    "ClinicCalendar",
    "Occupancy",
    "SeriesItem",
    "SessionKind",
    "Slot",
    "calendar_from_entries",
    "can_move_to",
    "earliest_slot",
    "grid",
    "load_calendar",
    "next_not_before",
    "propose_series",
    "session_kind",
]
