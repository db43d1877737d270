"""Reading appointments: the filtered list, a day by chair (for the day board), a patient's, the .ics file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from ketaclinic.errors import InputError
from ketaclinic.scheduling import AppointmentStatus, Chair
from ketaclinic.scheduling.ics import CalendarVisit, series_ics
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.scheduling.calendar import clinic_calendar
from ketaclinic.services.scheduling.counts import no_shows_by_plan
from ketaclinic.services.scheduling.records import AppointmentOut, appointment_out, appointment_row
from ketaclinic.services.sessions.charting import Config
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.scheduling import Appointment

MAX_LIST_DAYS = 366  # a list spans at most a year: an engineering bound on one answer's size


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def list_appointments(
    db: Database,
    actor: Actor,
    config: Config,
    *,
    from_date: date | None = None,
    to_date: date | None = None,
    patient_id: int | None = None,
    plan_id: int | None = None,
    status: AppointmentStatus | None = None,
) -> list[AppointmentOut]:
    """Appointments starting from `from_date` (default today) to `to_date` (default 4 weeks on), by start."""
    require(actor, Permission.SESSIONS_VIEW)
    first = from_date or date.today()
    last = to_date or first + timedelta(weeks=4)
    if last < first:
        raise InputError(f"{last.isoformat()} is before {first.isoformat()}", field="to")
    if (last - first).days > MAX_LIST_DAYS:
        raise InputError(f"a list spans at most {MAX_LIST_DAYS} days", field="to")
    query = (
        select(Appointment, Patient)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            Appointment.starts_at >= _local_start(first),
            Appointment.starts_at < _local_start(last + timedelta(days=1)),
        )
        .order_by(Appointment.starts_at, Appointment.chair, Appointment.id)
    )
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    if plan_id is not None:
        query = query.where(Appointment.plan_id == plan_id)
    if status is not None:
        query = query.where(Appointment.status == status.value)
    with db.read() as session:
        calendar = clinic_calendar(session, config)
        return [appointment_out(a, p, calendar, actor) for a, p in session.execute(query).all()]


@dataclass(frozen=True, slots=True)
class ChairDay:
    """One chair's appointments of a day, by start (what the day board lays out)."""

    chair: Chair
    appointments: tuple[AppointmentOut, ...]


def day_by_chair(db: Database, actor: Actor, day: date, config: Config) -> list[ChairDay]:
    """Each chair of the calendar with the day's appointments on it (cancelled ones left out)."""
    rows = list_appointments(db, actor, config, from_date=day, to_date=day)
    with db.read() as session:
        calendar = clinic_calendar(session, config)
    shown = [a for a in rows if a.status != AppointmentStatus.CANCELLED.value]
    return [ChairDay(c, tuple(a for a in shown if a.chair == c.id)) for c in calendar.chairs]


@dataclass(frozen=True, slots=True)
class PatientAppointments:
    """A patient's appointments split at now: upcoming first-soonest, past most-recent-first."""

    upcoming: tuple[AppointmentOut, ...]
    past: tuple[AppointmentOut, ...]


def patient_appointments(db: Database, actor: Actor, patient_id: int, config: Config) -> PatientAppointments:
    """Every appointment of the patient, upcoming and past."""
    require(actor, Permission.SESSIONS_VIEW)
    with db.read() as session:
        patient = load_patient(session, patient_id)
        calendar = clinic_calendar(session, config)
        rows = session.execute(
            select(Appointment).where(Appointment.patient_id == patient_id).order_by(Appointment.starts_at)
        ).scalars()
        out = [appointment_out(r, patient, calendar, actor) for r in rows]
    now = utcnow()
    upcoming = tuple(a for a in out if a.ends_at >= now and a.status not in _ENDED)
    past = tuple(reversed([a for a in out if a not in upcoming]))
    return PatientAppointments(upcoming, past)


_ENDED = (
    AppointmentStatus.CANCELLED.value,
    AppointmentStatus.NO_SHOW.value,
    AppointmentStatus.COMPLETED.value,
)


def patient_ics(db: Database, actor: Actor, patient_id: int, config: Config, *, clinic: str) -> bytes:
    """The patient's booked series as an iCalendar file (staff download it for the patient)."""
    appointments = patient_appointments(db, actor, patient_id, config)
    visits = [
        CalendarVisit(
            uid=f"appointment-{a.id}@ketaclinic",
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            summary=f"{clinic}: infusion {a.session_number}",
            location=a.chair_name,
            cancelled=a.status == AppointmentStatus.CANCELLED.value,
        )
        for a in (*appointments.upcoming, *reversed(appointments.past))
        if a.status != AppointmentStatus.NO_SHOW.value
    ]
    return series_ics(visits, clinic=clinic, stamp=utcnow())


def appointment(db: Database, actor: Actor, appointment_id: int, config: Config) -> AppointmentOut:
    """One appointment (a NotFoundError naming it when there is none)."""
    require(actor, Permission.SESSIONS_VIEW)
    with db.read() as session:
        row = appointment_row(session, appointment_id)
        return appointment_out(
            row, load_patient(session, row.patient_id), clinic_calendar(session, config), actor
        )


def clinic_no_shows(db: Database, actor: Actor) -> tuple[int, int]:
    """(no-shows recorded, plans they fall in) across the clinic, for the cohort dashboard."""
    require(actor, Permission.ANALYTICS_VIEW)
    with db.read() as session:
        by_plan = no_shows_by_plan(session)
    return sum(by_plan.values()), len(by_plan)
