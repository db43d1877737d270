"""The day board: each chair's appointments today with the state of their session, for the nurses' screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.monitoring.escalation import SEVERITY_RANK
from ketaclinic.scheduling import AppointmentStatus, Chair
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.scheduling.listing import appointment, day_by_chair
from ketaclinic.services.scheduling.records import AppointmentOut
from ketaclinic.services.sessions.alert_records import session_alerts
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.chart import current_cp_ng_ml, next_due
from ketaclinic.services.sessions.charting import Config, charted_times, observation_rows, segment_rows
from ketaclinic.services.sessions.ending import recovery_out
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession

# What the board calls each session state of an appointment's session (ended infusions are in recovery
# until the patient is discharged); a session not yet checked in shows the appointment's own status.
BOARD_STATE_OF_SESSION = {
    "checked_in": "checked_in",
    "running": "running",
    "paused": "paused",
    "completed": "recovery",
    "stopped": "recovery",
    "recovery": "recovery",
    "discharged": "discharged",
    "signed": "discharged",
}
BOARD_LABELS = {
    "booked": "booked",
    "arrived": "arrived",
    "checked_in": "checked in",
    "running": "running",
    "paused": "paused",
    "recovery": "recovery",
    "discharged": "discharged",
    "no_show": "no show",
    "completed": "completed",
}


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One appointment on the board, with what its session shows now (None where it has no session)."""

    appointment: AppointmentOut
    state: str  # a key of BOARD_LABELS
    session_state: str | None = None
    rate_mg_kg_h: float | None = None
    pump_ml_h: float | None = None
    cp_ng_ml: float | None = None
    next_due_at: datetime | None = None
    next_due_group: str | None = None
    discharge_from: datetime | None = None
    open_alerts: int = 0
    worst_alert: str | None = None
    nurse: str | None = None
    nurse_role: str | None = None  # how the nurse is known: "charting" (the latest reading) or "checked in"

    @property
    def label(self) -> str:
        """The state in words."""
        return BOARD_LABELS[self.state]

    @property
    def can_start(self) -> bool:
        """A booked (or arrived) appointment with no session yet: the board can make its session."""
        return self.appointment.session_id is None and self.state in ("booked", "arrived")


@dataclass(frozen=True, slots=True)
class BoardChair:
    """A chair and its appointments of the day, by time."""

    chair: Chair
    entries: tuple[BoardEntry, ...]

    @property
    def open_alerts(self) -> int:
        """Open alerts on this chair's sessions."""
        return sum(e.open_alerts for e in self.entries)


def _entry(session: Session, appointment: AppointmentOut, now: datetime, config: Config) -> BoardEntry:
    status = appointment.status
    if appointment.session_id is None or status == AppointmentStatus.NO_SHOW.value:
        return BoardEntry(appointment, status if status in BOARD_LABELS else "booked")
    row = session.get(InfusionSession, appointment.session_id)
    if row is None:
        return BoardEntry(appointment, status)
    segments = segment_rows(session, row.id)
    current = segments[-1] if segments and row.state in ("running", "paused") else None
    due = next_due(row, charted_times(session, row), now)
    soonest = min(due, key=lambda d: d.due_at) if due else None
    alerts = [a for a in session_alerts(session, row.id) if a.state == "open"]
    worst = max((a.severity for a in alerts), key=lambda s: SEVERITY_RANK[s], default=None)
    readings = observation_rows(session, row.id)
    in_recovery = row.state in ("completed", "stopped", "recovery")
    recovery = recovery_out(session, row, config) if in_recovery else None
    return BoardEntry(
        appointment,
        BOARD_STATE_OF_SESSION.get(row.state, status if status in BOARD_LABELS else "booked"),
        session_state=row.state,
        rate_mg_kg_h=current.rate_mg_kg_h if current is not None and row.state == "running" else None,
        pump_ml_h=current.pump_ml_h if current is not None and row.state == "running" else None,
        cp_ng_ml=current_cp_ng_ml(session, row, now) if row.started_at is not None else None,
        next_due_at=soonest.due_at if soonest is not None else None,
        next_due_group=soonest.group if soonest is not None else None,
        discharge_from=recovery.discharge_from if recovery is not None else None,
        open_alerts=len(alerts),
        worst_alert=worst,
        nurse=readings[-1].charted_by if readings else row.created_by,
        nurse_role=_nurse_role(readings[-1].phase if readings else None),
    )


def _nurse_role(latest_phase: str | None) -> str:
    """How the nurse shown was found: the calendar assigns none, so it is who charts or checked in."""
    if latest_phase is None:
        return "opened the session"
    return "checked in" if latest_phase == "pre" else "charting"


def day_board(db: Database, actor: Actor, day: date, config: Config) -> list[BoardChair]:
    """Every chair of the calendar with its appointments of `day`, each with its session's state now."""
    require(actor, Permission.SESSIONS_VIEW)
    chairs = day_by_chair(db, actor, day, config)
    now = utcnow()
    with db.read() as session:
        return [
            BoardChair(
                item.chair,
                tuple(_entry(session, a, now, config) for a in sorted(item.appointments, key=_start)),
            )
            for item in chairs
        ]


def _start(appointment: AppointmentOut) -> datetime:
    return appointment.starts_at


def start_from_appointment(db: Database, actor: Actor, appointment_id: int, config: Config) -> int:
    """The session of a booked appointment, made now (and linked to it) if it has none; its id."""
    require(actor, Permission.SESSIONS_CHART)
    booked = appointment(db, actor, appointment_id, config)
    if booked.session_id is not None:
        return booked.session_id
    if booked.status not in (AppointmentStatus.BOOKED.value, AppointmentStatus.ARRIVED.value):
        raise ConflictError(
            f"appointment {appointment_id} is {booked.status.replace('_', ' ')}: no session starts from it",
            field="appointment_id",
        )
    made = create_session(
        db, actor, SessionCreate(plan_id=booked.plan_id, session_number=booked.session_number)
    )
    return made.id
