"""Moving one appointment (later ones shifted on request), cancelling, and recording a no-show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.scheduling import (
    OPEN,
    AppointmentLength,
    AppointmentStatus,
    Chair,
    ClinicCalendar,
    Occupancy,
    SeriesItem,
    SessionKind,
    Slot,
    next_not_before,
    propose_series,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import appointment_event, publish
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.lifecycle import Reason
from ketaclinic.services.scheduling.calendar import clinic_calendar
from ketaclinic.services.scheduling.records import (
    HOLDING_VALUES,
    AppointmentOut,
    appointment_out,
    appointment_row,
    booked_slots,
    hold,
    release,
    series_needs,
    slot_of,
    slot_words,
)
from ketaclinic.services.sessions.charting import Config
from ketaclinic.services.versions import ReadVersion, check_version, version_change
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.scheduling import Appointment


class MoveIn(BaseModel):
    """A new start (and chair; the first free one of the right kind when not given) with the version read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    starts_at: datetime
    chair: str | None = Field(default=None, min_length=1, max_length=32)
    shift_later: bool = False
    reason: str = Field(default="", max_length=1000)


class EndIn(BaseModel):
    """Cancelling an appointment or recording a no-show: why, with the version read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    reason: Reason


def _on_record(row: Appointment) -> dict[str, Any]:
    return {
        "chair": row.chair,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "status": row.status,
        "reason": row.reason,
    }


def _open_row(session: Session, appointment_id: int, version: int) -> Appointment:
    row = appointment_row(session, appointment_id, for_update=True)
    check_version(session, "appointment", row, row.id, version, _on_record(row))
    if AppointmentStatus(row.status) not in OPEN:
        raise ConflictError(
            f"appointment {row.id} is {row.status.replace('_', ' ')}: only a booked or arrived one changes",
            field="status",
        )
    return row


def _later(session: Session, row: Appointment) -> list[Appointment]:
    return list(
        session.execute(
            select(Appointment)
            .where(
                Appointment.plan_id == row.plan_id,
                Appointment.session_number > row.session_number,
                Appointment.status.in_(HOLDING_VALUES),
            )
            .order_by(Appointment.session_number)
            .with_for_update()
        ).scalars()
    )


def _place(row: Appointment, slot: Slot) -> dict[str, Any]:
    changes = {
        "chair": {"old": row.chair, "new": slot.chair_id},
        "starts_at": {"old": row.starts_at.isoformat(), "new": slot.starts_at.isoformat()},
        "ends_at": {"old": row.ends_at.isoformat(), "new": slot.ends_at.isoformat()},
    }
    row.chair, row.starts_at, row.ends_at = slot.chair_id, slot.starts_at, slot.ends_at
    row.infusion_starts_at, row.infusion_ends_at = slot.infusion_starts_at, slot.infusion_ends_at
    return {k: v for k, v in changes.items() if v["old"] != v["new"]}


def _requested(
    row: Appointment,
    data: MoveIn,
    calendar: ClinicCalendar,
    occupancy: Occupancy,
    length: AppointmentLength,
    kind: SessionKind,
) -> Slot:
    """The requested start on the requested chair (or the first free one of the plan's kind)."""
    if data.starts_at.tzinfo is None:
        raise InputError("starts_at must carry its time zone", field="starts_at")
    if data.starts_at < utcnow():
        raise InputError("the new start is in the past", field="starts_at")
    if data.chair is not None:
        chair = calendar.chair(data.chair)
        if chair is None or kind not in chair.kinds:
            raise InputError(f"{data.chair!r} is not a {kind.value.replace('_', ' ')}", field="chair")
        candidates: tuple[Chair, ...] = (chair,)
    else:
        candidates = calendar.chairs_for(kind)
    day = data.starts_at.astimezone().date()
    opens, closes = calendar.opening(day, None)
    local = data.starts_at.astimezone()
    if not calendar.is_open(day) or not opens <= data.starts_at < closes:
        raise ConflictError(f"the clinic is closed on {day.isoformat()} at {local:%H:%M}", field="starts_at")
    for chair in candidates:
        slot = Slot.at(chair.id, data.starts_at, length, row.session_number)
        if kind is SessionKind.OUTPATIENT_CHAIR and slot.ends_at > closes:
            raise ConflictError(f"an appointment at {local:%H:%M} ends after closing", field="starts_at")
        if occupancy.fits(slot, calendar.nurse_capacity):
            return slot
    raise ConflictError(
        f"no {'chosen ' if data.chair else ''}chair is free on {day.isoformat()} at {local:%H:%M} "
        "within nurse capacity",
        field="starts_at",
    )


def move(
    db: Database, actor: Actor, appointment_id: int, data: MoveIn, config: Config
) -> list[AppointmentOut]:
    """Move one appointment; with `shift_later` the plan's later ones follow, keeping the interval.

    Answers the moved appointment first, then every one shifted.
    """
    require(actor, Permission.SCHEDULE_BOOK)
    with db.transaction() as session:
        row = _open_row(session, appointment_id, data.version)
        calendar = clinic_calendar(session, config)
        needs = series_needs(session, row.plan_id, calendar, config)
        later = _later(session, row) if data.shift_later else []
        moving = [row, *later]
        booked = booked_slots(session, data.starts_at - timedelta(days=7), excluding=[a.id for a in moving])
        occupancy = Occupancy.of(calendar.slot_min, booked)
        slot = _requested(row, data, calendar, occupancy, needs.lengths[row.session_number], needs.kind)
        _keeps_interval(session, row, slot, needs.interval_days, calendar, data.shift_later)
        for item in moving:
            release(session, item)
        session.flush()
        patient = load_patient(session, row.patient_id)
        placed = [(row, slot)]
        if later:
            occupancy.add(slot)
            items = [SeriesItem(a.session_number, needs.lengths[a.session_number]) for a in later]
            shifted = propose_series(
                calendar,
                needs.kind,
                items,
                needs.interval_days,
                next_not_before(slot, needs.interval_days, calendar, None),
                [*booked, slot],
                None,
            )
            placed += list(zip(later, shifted, strict=True))
        out = []
        for item, new in placed:
            read_version = item.version
            # The day it leaves hears of it too (its board drops it); `hold` tells the day it moves to.
            publish(session, appointment_event(item.id, item.status, item.starts_at, item.session_id))
            changes = _place(item, new)
            session.flush()
            hold(session, item, calendar)
            reason = data.reason.strip() or (
                "moved" if item is row else f"shifted after session {row.session_number}"
            )
            audit(
                session,
                actor,
                "move",
                "appointment",
                item.id,
                changes | version_change(read_version, item),
                reason,
            )
            out.append(appointment_out(item, patient, calendar, actor))
        return out


def _keeps_interval(
    session: Session,
    row: Appointment,
    slot: Slot,
    interval_days: float,
    calendar: ClinicCalendar,
    shifting: bool,
) -> None:
    """Refuse a move sooner than the interval after the previous session or too close to the next one."""
    others = session.execute(
        select(Appointment).where(
            Appointment.plan_id == row.plan_id,
            Appointment.id != row.id,
            Appointment.status.in_(HOLDING_VALUES),
        )
    ).scalars()
    for other in others:
        if other.session_number < row.session_number:
            if slot.starts_at < next_not_before(slot_of(other), interval_days, calendar, None):
                raise ConflictError(
                    f"that is sooner than the protocol's {interval_days:g}-day interval after session "
                    f"{other.session_number} ({slot_words(other, calendar)})",
                    field="starts_at",
                )
        elif not shifting and other.starts_at < next_not_before(slot, interval_days, calendar, None):
            raise ConflictError(
                f"session {other.session_number} ({slot_words(other, calendar)}) would follow sooner than "
                f"the protocol's {interval_days:g}-day interval: move the later sessions too (shift_later)",
                field="shift_later",
            )


def _end(
    db: Database, actor: Actor, appointment_id: int, data: EndIn, config: Config, status: AppointmentStatus
) -> AppointmentOut:
    require(actor, Permission.SCHEDULE_BOOK)
    with db.transaction() as session:
        row = _open_row(session, appointment_id, data.version)
        if status is AppointmentStatus.NO_SHOW and row.starts_at > datetime.now(row.starts_at.tzinfo):
            raise ConflictError(
                f"appointment {row.id} has not begun yet ({row.starts_at.astimezone():%Y-%m-%d %H:%M}): "
                "cancel it instead",
                field="status",
            )
        calendar = clinic_calendar(session, config)
        release(session, row)
        read_version = row.version
        old_status, row.status, row.reason = row.status, status.value, data.reason
        session.flush()
        publish(session, appointment_event(row.id, row.status, row.starts_at, row.session_id))
        changes = {
            "status": {"old": old_status, "new": row.status},
            "reason": {"old": None, "new": row.reason},
        }
        action = "cancel" if status is AppointmentStatus.CANCELLED else "no_show"
        audit(
            session,
            actor,
            action,
            "appointment",
            row.id,
            changes | version_change(read_version, row),
            data.reason,
        )
        return appointment_out(row, load_patient(session, row.patient_id), calendar, actor)


def cancel(db: Database, actor: Actor, appointment_id: int, data: EndIn, config: Config) -> AppointmentOut:
    """Cancel a booked appointment, with the reason; its chair is free again."""
    return _end(db, actor, appointment_id, data, config, AppointmentStatus.CANCELLED)


def no_show(db: Database, actor: Actor, appointment_id: int, data: EndIn, config: Config) -> AppointmentOut:
    """Record that the patient did not come, with the reason (counted in the course's dropout)."""
    return _end(db, actor, appointment_id, data, config, AppointmentStatus.NO_SHOW)
