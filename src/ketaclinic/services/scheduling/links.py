"""A session made or moved on from a booked appointment links to it, and the appointment follows its state."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ketaclinic.scheduling import AppointmentStatus
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import appointment_event, publish
from ketaclinic.services.permissions import Actor
from ketaclinic.services.versions import version_change
from ketaclinic.store.tables.scheduling import Appointment
from ketaclinic.store.tables.sessions import InfusionSession

# The appointment state each session state means (a scheduled session leaves it booked or arrived).
FOLLOWS = {
    "checked_in": AppointmentStatus.CHECKED_IN,
    "running": AppointmentStatus.RUNNING,
    "paused": AppointmentStatus.RUNNING,
    "completed": AppointmentStatus.COMPLETED,
    "stopped": AppointmentStatus.COMPLETED,
    "recovery": AppointmentStatus.COMPLETED,
    "discharged": AppointmentStatus.COMPLETED,
    "signed": AppointmentStatus.COMPLETED,
}
_ORDER = list(AppointmentStatus)
_FOLLOWING = ("booked", "arrived", "checked_in", "running")


def follow_session(session: Session, actor: Actor, row: InfusionSession) -> None:
    """Link the session to its plan's booked appointment of that number, and move the appointment on."""
    appointment = session.execute(
        select(Appointment)
        .where(
            or_(
                Appointment.session_id == row.id,
                (Appointment.plan_id == row.plan_id)
                & (Appointment.session_number == row.session_number)
                & Appointment.status.in_(_FOLLOWING),
            )
        )
        .order_by(Appointment.id.desc())
    ).scalar()
    if appointment is None:
        return
    changes: dict[str, object] = {}
    if appointment.session_id is None:
        session.flush()  # a new session has its id
        changes["session_id"] = {"old": None, "new": row.id}
        appointment.session_id = row.id
    target = FOLLOWS.get(row.state)
    current = AppointmentStatus(appointment.status)
    if target is not None and current.value in _FOLLOWING and _ORDER.index(target) > _ORDER.index(current):
        changes["status"] = {"old": appointment.status, "new": target.value}
        appointment.status = target.value
    if changes:
        publish(session, appointment_event(appointment.id, appointment.status, appointment.starts_at, row.id))
        read_version = appointment.version
        session.flush()
        audit(
            session,
            actor,
            "follow_session",
            "appointment",
            appointment.id,
            changes | version_change(read_version, appointment),
            f"session {row.id} is {row.state.replace('_', ' ')}",
        )
