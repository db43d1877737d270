"""Appointments on chairs, the grid steps each holds (the guard against double booking), the calendar."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime
from ketaclinic.store.versioning import Versioned

# Appointment states that still hold the plan's session (a cancelled or missed one can be booked again).
_HOLDING_SQL = "status NOT IN ('cancelled', 'no_show')"


class Appointment(Versioned, Base):
    """One booked session of an approved plan on one chair (versioned: a move names the version read)."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index(
            "uq_appointments_plan_session_holding",
            "plan_id",
            "session_number",
            unique=True,
            sqlite_where=text(_HOLDING_SQL),
            postgresql_where=text(_HOLDING_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("dose_plans.id"), index=True)
    session_number: Mapped[int] = mapped_column(Integer)
    chair: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    infusion_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    infusion_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("infusion_sessions.id"), nullable=True, index=True
    )
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChairSlot(Base):
    """A grid step an appointment holds its chair for: unique per chair and step (no double booking)."""

    __tablename__ = "appointment_chair_slots"
    __table_args__ = (UniqueConstraint("chair", "slot_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    chair: Mapped[str] = mapped_column(String(32))
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NurseSlot(Base):
    """A grid step a running infusion takes a nurse's seat for: unique per step and seat (< capacity)."""

    __tablename__ = "appointment_nurse_slots"
    __table_args__ = (UniqueConstraint("slot_at", "seat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seat: Mapped[int] = mapped_column(Integer)


class ClinicCalendarRow(Versioned, Base):
    """The calendar values set on the calendar screen (one row; shipped and file values lie beneath)."""

    __tablename__ = "clinic_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    entries_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
