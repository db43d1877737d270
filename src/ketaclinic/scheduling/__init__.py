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
    Slot,
    earliest_slot,
    grid,
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
    "SessionKind",
    "Slot",
    "calendar_from_entries",
    "can_move_to",
    "earliest_slot",
    "grid",
    "load_calendar",
    "propose_series",
    "session_kind",
]
