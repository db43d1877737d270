"""No-shows counted per plan and per session, and the booked times of a plan's sessions, for the course
views and the cohort (no other imports)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.store.tables.scheduling import Appointment

NO_SHOW = "no_show"  # the appointment state (ketaclinic.scheduling.AppointmentStatus.NO_SHOW)
# Appointment states that hold a session's time (not cancelled, not missed).
HOLDING = ("booked", "arrived", "checked_in", "running", "completed")


def no_shows_by_plan(session: Session) -> Counter[int]:
    """No-shows recorded per plan, in the caller's transaction."""
    rows = session.execute(
        select(Appointment.plan_id, func.count())
        .where(Appointment.status == NO_SHOW)
        .group_by(Appointment.plan_id)
    )
    return Counter({plan: int(n) for plan, n in rows})


def missed_sessions(session: Session, plan_id: int) -> dict[int, int]:
    """{session number: no-shows} of a plan's sessions missed at least once."""
    rows = session.execute(
        select(Appointment.session_number, func.count())
        .where(Appointment.plan_id == plan_id, Appointment.status == NO_SHOW)
        .group_by(Appointment.session_number)
    )
    return {number: int(n) for number, n in rows}


def booked_times(session: Session, plan_id: int) -> dict[int, datetime]:
    """{session number: arrival time} of a plan's sessions held by an appointment (the latest one)."""
    rows = session.execute(
        select(Appointment.session_number, Appointment.starts_at)
        .where(Appointment.plan_id == plan_id, Appointment.status.in_(HOLDING))
        .order_by(Appointment.id)
    )
    return {number: starts_at for number, starts_at in rows}
