"""How an appointment reads, the chair and nurse steps it holds, and what a plan's series needs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.inputs import RecordRef
from ketaclinic.scheduling import (
    HOLDING,
    AppointmentLength,
    ClinicCalendar,
    Occupancy,
    SessionKind,
    Slot,
    session_kind,
)
from ketaclinic.services.events_bus import appointment_event, publish
from ketaclinic.services.patients.records import patient_label
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans.contract import planned_session
from ketaclinic.services.plans.records import plan_row, stored_plan
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import Config
from ketaclinic.services.sessions.ending import ending_policy
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.scheduling import Appointment, ChairSlot, NurseSlot
from ketaclinic.store.tables.sessions import InfusionSession

HOLDING_VALUES = tuple(sorted(s.value for s in HOLDING))


class AppointmentOut(BaseModel):
    """One appointment as the API, the CLI and the screens show it."""

    id: int
    patient_id: RecordRef
    patient_label: str
    plan_id: RecordRef
    session_number: int
    chair: str
    chair_name: str
    starts_at: datetime
    infusion_starts_at: datetime
    infusion_ends_at: datetime
    ends_at: datetime
    status: str
    reason: str | None
    session_id: RecordRef | None
    version: int


def appointment_out(
    row: Appointment, patient: Patient, calendar: ClinicCalendar, actor: Actor
) -> AppointmentOut:
    """The output model of a stored appointment (a chair the calendar no longer has shows its id)."""
    chair = calendar.chair(row.chair)
    return AppointmentOut(
        id=row.id,
        patient_id=row.patient_id,
        patient_label=patient_label(patient, actor),
        plan_id=row.plan_id,
        session_number=row.session_number,
        chair=row.chair,
        chair_name=chair.name if chair else row.chair,
        starts_at=row.starts_at,
        infusion_starts_at=row.infusion_starts_at,
        infusion_ends_at=row.infusion_ends_at,
        ends_at=row.ends_at,
        status=row.status,
        reason=row.reason,
        session_id=row.session_id,
        version=row.version,
    )


def appointment_row(session: Session, appointment_id: int, *, for_update: bool = False) -> Appointment:
    """A stored appointment; `for_update` locks it until the edit's transaction ends."""
    row = session.get(Appointment, appointment_id, with_for_update=for_update)
    if row is None:
        raise NotFoundError(f"no appointment {appointment_id}", field="appointment_id")
    return row


def slot_of(row: Appointment) -> Slot:
    """The planner's view of a stored appointment."""
    return Slot(
        row.chair,
        row.starts_at,
        row.infusion_starts_at,
        row.infusion_ends_at,
        row.ends_at,
        row.session_number,
    )


def booked_slots(session: Session, since: datetime, *, excluding: Iterable[int] = ()) -> list[Slot]:
    """Every appointment holding its chair after `since`, except those `excluding` names."""
    skip = set(excluding)
    rows = session.execute(
        select(Appointment).where(Appointment.status.in_(HOLDING_VALUES), Appointment.ends_at > since)
    ).scalars()
    return [slot_of(r) for r in rows if r.id not in skip]


@dataclass(frozen=True, slots=True)
class SeriesNeeds:
    """What placing a plan's sessions needs: the kind of chair, the interval and each session's length."""

    plan_id: RecordRef
    patient_id: RecordRef
    protocol_id: str
    kind: SessionKind
    interval_days: float
    lengths: dict[int, AppointmentLength]
    planned_on: dict[int, date]
    remaining: tuple[int, ...]
    anchor: Slot | datetime | None  # the latest session given or held before the remaining ones


def series_needs(session: Session, plan_id: int, calendar: ClinicCalendar, config: Config) -> SeriesNeeds:
    """The plan's remaining sessions (not given, not held by an appointment) and how each is placed."""
    row = plan_row(session, plan_id)
    plan = stored_plan(row)
    protocol = clinic_library(config).protocols.get(row.protocol_id)
    # A protocol the clinic no longer has sets no spacing (as starting a session reads it).
    interval_days = 0.0 if protocol is None else float(protocol.schedule.interval_days.value)
    recovery_min = ending_policy(config).recovery_min
    numbers = range(1, len(plan.sessions) + 1)
    lengths = {}
    for number in numbers:
        planned = planned_session(session, plan_id, number)
        infusion_min = max((s.end_min for s in planned.segments), default=0.0)
        lengths[number] = AppointmentLength(calendar.checkin_min, infusion_min, recovery_min)
    given = {
        s.session_number: s.started_at
        for s in session.execute(select(InfusionSession).where(InfusionSession.plan_id == plan_id)).scalars()
        if s.state != "scheduled"
    }
    held = {
        a.session_number: a
        for a in session.execute(
            select(Appointment).where(Appointment.plan_id == plan_id, Appointment.status.in_(HOLDING_VALUES))
        ).scalars()
    }
    remaining = tuple(n for n in numbers if n not in given and n not in held)
    anchor: Slot | datetime | None = None
    if remaining:
        before = [n for n in (*given, *held) if n < remaining[0]]
        if before:
            last = max(before)
            started = given.get(last)
            anchor = slot_of(held[last]) if last in held else started
    return SeriesNeeds(
        plan_id=row.id,
        patient_id=row.patient_id,
        protocol_id=row.protocol_id,
        kind=session_kind(plan.setting),
        interval_days=interval_days,
        lengths=lengths,
        planned_on={n: plan.sessions[n - 1].date for n in numbers},
        remaining=remaining,
        anchor=anchor,
    )


def _nurse_seats(session: Session, steps: tuple[datetime, ...]) -> dict[datetime, set[int]]:
    taken: dict[datetime, set[int]] = defaultdict(set)
    if steps:
        rows = session.execute(select(NurseSlot.slot_at, NurseSlot.seat).where(NurseSlot.slot_at.in_(steps)))
        for at, seat in rows:
            taken[at].add(seat)
    return taken


def slot_words(row: Appointment, calendar: ClinicCalendar) -> str:
    """`Chair 2 on 2026-12-07 at 09:00 (session 3)`, in clinic local time."""
    chair = calendar.chair(row.chair)
    local = row.starts_at.astimezone()
    return (
        f"{chair.name if chair else row.chair} on {local.date().isoformat()} at {local:%H:%M} "
        f"(session {row.session_number})"
    )


def hold(session: Session, row: Appointment, calendar: ClinicCalendar) -> None:
    """Write `row`'s chair steps and a nurse seat per infusion step; a taken one is a 409 naming the slot.

    The unique keys (chair, step) and (step, seat) are the guard: of two bookings of the last free
    chair or seat at once, the database lets one through and the other fails here.
    """
    occupancy = Occupancy(calendar.slot_min)
    slot = slot_of(row)
    steps = occupancy.infusion_steps(slot)
    taken = _nurse_seats(session, steps)
    publish(session, appointment_event(row.id, row.status, row.starts_at, row.session_id))
    for at in occupancy.chair_steps(slot):
        session.add(ChairSlot(appointment_id=row.id, chair=row.chair, slot_at=at))
    for at in steps:
        free = [seat for seat in range(calendar.nurse_capacity) if seat not in taken[at]]
        if not free:
            raise ConflictError(
                f"no nurse is free for {slot_words(row, calendar)}: every nurse watches as many infusions "
                "as the calendar allows",
                field="slots",
            )
        session.add(NurseSlot(appointment_id=row.id, slot_at=at, seat=free[0]))
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(
            f"{slot_words(row, calendar)} was just booked by someone else: propose the series again",
            field="slots",
        ) from None


def release(session: Session, row: Appointment) -> None:
    """Free the chair steps and nurse seats `row` holds (cancelled, missed or about to move)."""
    session.execute(delete(ChairSlot).where(ChairSlot.appointment_id == row.id))
    session.execute(delete(NurseSlot).where(NurseSlot.appointment_id == row.id))
