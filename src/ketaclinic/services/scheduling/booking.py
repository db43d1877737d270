"""Booking a plan's remaining series: propose the earliest feasible slots, then book all of them or none."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.scheduling import (
    AppointmentStatus,
    ClinicCalendar,
    Occupancy,
    SeriesItem,
    Slot,
    next_not_before,
    propose_series,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.contract import approved_plan_ids
from ketaclinic.services.scheduling.calendar import clinic_calendar
from ketaclinic.services.scheduling.records import (
    AppointmentOut,
    SeriesNeeds,
    appointment_out,
    booked_slots,
    hold,
    series_needs,
    slot_words,
)
from ketaclinic.services.sessions.charting import Config
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.scheduling import Appointment


class ProposedSlotOut(BaseModel):
    """One proposed appointment of the series."""

    session_number: int
    chair: str
    chair_name: str
    starts_at: datetime
    infusion_starts_at: datetime
    infusion_ends_at: datetime
    ends_at: datetime


class SeriesProposal(BaseModel):
    """The earliest feasible slots for a plan's remaining sessions."""

    plan_id: RecordRef
    patient_id: RecordRef
    protocol_id: str
    kind: str
    interval_days: float
    remaining: list[int]
    slots: list[ProposedSlotOut]


class SlotIn(BaseModel):
    """A slot as proposed, sent back to book it."""

    model_config = ConfigDict(extra="forbid")
    session_number: int = Field(ge=1, le=1000)
    chair: str = Field(min_length=1, max_length=32)
    starts_at: datetime


class BookSeriesIn(BaseModel):
    """Book a plan's remaining series: the proposed `slots`, else the earliest from `from_date`."""

    model_config = ConfigDict(extra="forbid")
    plan_id: int = Field(ge=1)
    from_date: date | None = None
    slots: list[SlotIn] | None = Field(default=None, max_length=100)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def _earliest(needs: SeriesNeeds, from_date: date | None, calendar: ClinicCalendar) -> datetime:
    """Now, the requested day, and the interval after the last session given or booked before."""
    now = utcnow()
    if from_date is not None and from_date < now.astimezone().date():
        raise InputError(f"{from_date.isoformat()} is in the past; book from today on", field="from_date")
    earliest = now if from_date is None else max(now, _local_midnight(from_date))
    anchor = needs.anchor
    if isinstance(anchor, Slot):
        earliest = max(earliest, next_not_before(anchor, needs.interval_days, calendar, None))
    elif isinstance(anchor, datetime):
        started = Slot(
            "", anchor, anchor, anchor, anchor
        )  # a given session: the interval counts from the day it started
        earliest = max(earliest, next_not_before(started, needs.interval_days, calendar, None))
    return earliest


def _items(needs: SeriesNeeds) -> list[SeriesItem]:
    # Never before a session's planned date: that would need a start reason on the day.
    return [SeriesItem(n, needs.lengths[n], _local_midnight(needs.planned_on[n])) for n in needs.remaining]


def _proposed(slots: tuple[Slot, ...], calendar: ClinicCalendar) -> list[ProposedSlotOut]:
    out = []
    for slot in slots:
        chair = calendar.chair(slot.chair_id)
        out.append(
            ProposedSlotOut(
                session_number=slot.session_number,
                chair=slot.chair_id,
                chair_name=chair.name if chair else slot.chair_id,
                starts_at=slot.starts_at,
                infusion_starts_at=slot.infusion_starts_at,
                infusion_ends_at=slot.infusion_ends_at,
                ends_at=slot.ends_at,
            )
        )
    return out


def _approved(session: Session, needs: SeriesNeeds) -> None:
    if needs.plan_id not in approved_plan_ids(session, needs.patient_id):
        raise ConflictError(
            f"dose plan {needs.plan_id} is not approved; only an approved plan is booked", field="plan_id"
        )
    if not needs.remaining:
        raise ConflictError(
            f"every session of plan {needs.plan_id} is given or booked already", field="plan_id"
        )


def _plan_series(
    session: Session, plan_id: int, from_date: date | None, config: Config
) -> tuple[SeriesNeeds, ClinicCalendar, tuple[Slot, ...]]:
    calendar = clinic_calendar(session, config)
    needs = series_needs(session, plan_id, calendar, config)
    _approved(session, needs)
    earliest = _earliest(needs, from_date, calendar)
    booked = booked_slots(session, earliest - timedelta(days=7))
    slots = propose_series(calendar, needs.kind, _items(needs), needs.interval_days, earliest, booked, None)
    return needs, calendar, slots


def propose(
    db: Database, actor: Actor, plan_id: int, from_date: date | None, config: Config
) -> SeriesProposal:
    """The earliest feasible slots for the plan's remaining sessions (nothing is booked)."""
    require(actor, Permission.SCHEDULE_BOOK)
    with db.read() as session:
        needs, calendar, slots = _plan_series(session, plan_id, from_date, config)
        return SeriesProposal(
            plan_id=needs.plan_id,
            patient_id=needs.patient_id,
            protocol_id=needs.protocol_id,
            kind=needs.kind.value,
            interval_days=needs.interval_days,
            remaining=list(needs.remaining),
            slots=_proposed(slots, calendar),
        )


def _checked(
    needs: SeriesNeeds, calendar: ClinicCalendar, wanted: list[SlotIn], earliest: datetime, booked: list[Slot]
) -> tuple[Slot, ...]:
    """The slots sent back, each re-checked against the calendar, the bookings and the interval."""
    numbers = [s.session_number for s in wanted]
    if numbers != list(needs.remaining):
        raise ConflictError(
            f"the remaining sessions are {', '.join(map(str, needs.remaining))}, not "
            f"{', '.join(map(str, numbers)) or 'none'}: propose the series again",
            field="slots",
        )
    occupancy = Occupancy.of(calendar.slot_min, booked)
    checked: list[Slot] = []
    not_before = earliest
    for item, sent in zip(_items(needs), wanted, strict=True):
        chair = calendar.chair(sent.chair)
        if chair is None or needs.kind not in chair.kinds:
            raise InputError(f"{sent.chair!r} is not a {needs.kind.value.replace('_', ' ')}", field="slots")
        if sent.starts_at.tzinfo is None:
            raise InputError("starts_at must carry its time zone", field="slots")
        slot = Slot.at(chair.id, sent.starts_at, item.length, item.session_number)
        day = slot.starts_at.astimezone().date()
        opens, closes = calendar.opening(day, None)
        where = f"{chair.name} on {day.isoformat()} at {slot.starts_at.astimezone():%H:%M}"
        if not calendar.is_open(day) or not opens <= slot.starts_at < closes:
            raise ConflictError(
                f"the clinic is closed at {where} (session {item.session_number})", field="slots"
            )
        if needs.kind.value == "outpatient_chair" and slot.ends_at > closes:
            raise ConflictError(f"session {item.session_number} at {where} ends after closing", field="slots")
        first = not_before if item.not_before is None else max(not_before, item.not_before)
        if slot.starts_at < first:
            raise ConflictError(
                f"session {item.session_number} at {where} is sooner than the protocol's interval "
                "or its planned date allows",
                field="slots",
            )
        if not occupancy.fits(slot, calendar.nurse_capacity):
            raise ConflictError(
                f"{where} (session {item.session_number}) is no longer free: propose the series again",
                field="slots",
            )
        occupancy.add(slot)
        checked.append(slot)
        not_before = next_not_before(slot, needs.interval_days, calendar, None)
    return tuple(checked)


def book_series(db: Database, actor: Actor, data: BookSeriesIn, config: Config) -> list[AppointmentOut]:
    """Book every remaining session of an approved plan, or none: the sent slots, else the earliest ones."""
    require(actor, Permission.SCHEDULE_BOOK)
    with db.transaction() as session:
        if data.slots is None:
            needs, calendar, slots = _plan_series(session, data.plan_id, data.from_date, config)
        else:
            calendar = clinic_calendar(session, config)
            needs = series_needs(session, data.plan_id, calendar, config)
            _approved(session, needs)
            earliest = _earliest(needs, data.from_date, calendar)
            booked = booked_slots(session, earliest - timedelta(days=7))
            slots = _checked(needs, calendar, data.slots, earliest, booked)
        patient = load_patient(session, needs.patient_id)
        now = utcnow()
        out = []
        for slot in slots:
            row = Appointment(
                patient_id=needs.patient_id,
                plan_id=needs.plan_id,
                session_number=slot.session_number,
                chair=slot.chair_id,
                starts_at=slot.starts_at,
                infusion_starts_at=slot.infusion_starts_at,
                infusion_ends_at=slot.infusion_ends_at,
                ends_at=slot.ends_at,
                status=AppointmentStatus.BOOKED.value,
                created_by=actor.username,
                created_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # the same session booked by someone else at the same moment
                raise ConflictError(
                    f"session {slot.session_number} of plan {needs.plan_id} was just booked by someone else",
                    field="slots",
                ) from None
            hold(session, row, calendar)
            audit(
                session,
                actor,
                "book",
                "appointment",
                row.id,
                {
                    "plan_id": {"old": None, "new": row.plan_id},
                    "session_number": {"old": None, "new": row.session_number},
                    "chair": {"old": None, "new": row.chair},
                    "starts_at": {"old": None, "new": row.starts_at.isoformat()},
                    "ends_at": {"old": None, "new": row.ends_at.isoformat()},
                    "status": {"old": None, "new": row.status},
                    "version": {"old": None, "new": row.version},
                },
                reason=slot_words(row, calendar),
            )
            out.append(appointment_out(row, patient, calendar, actor))
        return out
