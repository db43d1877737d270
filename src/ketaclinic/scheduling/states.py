"""An appointment's states and the steps between them (the day board moves them on)."""

from __future__ import annotations

from enum import StrEnum


class AppointmentStatus(StrEnum):
    """Where an appointment stands, from booking to its end."""

    BOOKED = "booked"
    ARRIVED = "arrived"
    CHECKED_IN = "checked_in"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# The states an appointment still holds its chair in (a cancelled or missed one frees it).
HOLDING = frozenset(
    {
        AppointmentStatus.BOOKED,
        AppointmentStatus.ARRIVED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.RUNNING,
        AppointmentStatus.COMPLETED,
    }
)
# The states from which an appointment may still be moved, cancelled or recorded as a no-show.
OPEN = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED})

NEXT: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    AppointmentStatus.BOOKED: frozenset(
        {
            AppointmentStatus.ARRIVED,
            AppointmentStatus.CHECKED_IN,
            AppointmentStatus.CANCELLED,
            AppointmentStatus.NO_SHOW,
        }
    ),
    AppointmentStatus.ARRIVED: frozenset(
        {AppointmentStatus.CHECKED_IN, AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}
    ),
    AppointmentStatus.CHECKED_IN: frozenset({AppointmentStatus.RUNNING, AppointmentStatus.COMPLETED}),
    AppointmentStatus.RUNNING: frozenset({AppointmentStatus.COMPLETED}),
    AppointmentStatus.COMPLETED: frozenset(),
    AppointmentStatus.CANCELLED: frozenset(),
    AppointmentStatus.NO_SHOW: frozenset(),
}


def can_move_to(current: AppointmentStatus, target: AppointmentStatus) -> bool:
    """True when an appointment in `current` may step to `target`."""
    return target in NEXT[current]
