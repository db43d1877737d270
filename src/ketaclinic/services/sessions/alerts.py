"""Session alerts as people see them: one open alert per group, acknowledged with one pick, then resolved.

Raising lives in alert_raising and reading in alert_records; here an alert is acknowledged by a
named user with the action taken, and resolved, by a later reading back in range or in words
(compare-and-swap: never twice).
"""

from __future__ import annotations

from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import CleanText, RecordRef
from ketaclinic.monitoring import (
    AlertAction,
    SessionState,
    actions_for,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.alert_records import (
    AlertContext,
    AlertOut,
    alerts_out,
    readings_back_in_range,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    SessionAlert,
    SessionObservation,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), CleanText]


class AckIn(BaseModel):
    """Acknowledging an alert is one pick of the action taken, with an optional note."""

    model_config = ConfigDict(extra="forbid")
    action: AlertAction
    note: Text | None = None


class ResolveIn(BaseModel):
    """Resolving an acknowledged alert: by a later reading back in range, or saying how it ended."""

    model_config = ConfigDict(extra="forbid")
    observation_id: RecordRef | None = None
    resolution: Text | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.observation_id is None) == (self.resolution is None):
            raise ValueError("give either observation_id (a later reading back in range) or resolution")
        return self


def _alert_for_update(session: Session, session_id: int, alert_id: int) -> SessionAlert:
    row = session.execute(
        select(SessionAlert)
        .where(SessionAlert.id == alert_id, SessionAlert.session_id == session_id)
        .with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"session {session_id} has no alert {alert_id}", field="alert_id")
    return row


def _check_not_signed(session: Session, session_id: int) -> None:
    state = session.execute(
        select(InfusionSession.state).where(InfusionSession.id == session_id)
    ).scalar_one_or_none()
    if state is None:
        raise NotFoundError(f"no infusion session {session_id}", field="session_id")
    if state == SessionState.SIGNED.value:
        raise ConflictError("the session is signed and locked: only addenda can be added", field="alert_id")


def _swap_state(session: Session, row: SessionAlert, expected: str, values: dict[str, Any]) -> None:
    """Compare-and-swap the alert's state so two nurses never both acknowledge (or resolve) it."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(SessionAlert)
            .where(SessionAlert.id == row.id, SessionAlert.state == expected)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise ConflictError(f"alert {row.id} is {row.state}, not {expected}", field="alert_id")
    session.refresh(row)
    publish(session, LiveEvent("alert", row.state, session_id=row.session_id, alert_id=row.id))


def acknowledge_row(session: Session, actor: Actor, row: SessionAlert, body: AckIn) -> None:
    """Acknowledge an open alert row (locked by the caller) with an action of its setting, audited."""
    if body.action not in actions_for(row.advice):
        offered = ", ".join(actions_for(row.advice))
        raise InputError(f"{body.action.value!r} is not an action for this alert ({offered})", field="action")
    _swap_state(
        session,
        row,
        "open",
        {
            "state": "acknowledged",
            "acknowledged_by": actor.username,
            "acknowledged_at": utcnow(),
            "action_taken": body.action.value,
            "ack_note": body.note,
        },
    )
    audit(
        session,
        actor,
        "acknowledge",
        "session_alert",
        row.id,
        {
            "state": {"old": "open", "new": "acknowledged"},
            "action_taken": {"old": None, "new": body.action.value},
            "ack_note": {"old": None, "new": body.note},
        },
    )


def acknowledge_alert(db: Database, actor: Actor, session_id: int, alert_id: int, body: AckIn) -> AlertOut:
    """A named user acknowledges an open alert with one pick of the action taken (and an optional note)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        _check_not_signed(session, session_id)
        row = _alert_for_update(session, session_id, alert_id)
        acknowledge_row(session, actor, row, body)
        return alerts_out(session, session_id, [row])[0]


def resolve_alert(db: Database, actor: Actor, session_id: int, alert_id: int, body: ResolveIn) -> AlertOut:
    """Resolve an acknowledged alert: by a later reading showing its group back in range, or in words."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        _check_not_signed(session, session_id)
        row = _alert_for_update(session, session_id, alert_id)
        resolution = body.resolution or ""
        if body.observation_id is not None:
            reading = _reading_back_in_range(session, row, body.observation_id)
            resolution = f"resolved by the reading at {reading.observed_at:%H:%M}"
        resolve_row(session, actor, row, resolution, observation_id=body.observation_id)
        return alerts_out(session, session_id, [row])[0]


def resolve_row(
    session: Session,
    actor: Actor,
    row: SessionAlert,
    resolution: str,
    *,
    observation_id: int | None = None,
    expected: str = "acknowledged",
) -> None:
    """Resolve an alert row (locked by the caller) that is in state `expected`, audited."""
    _swap_state(
        session,
        row,
        expected,
        {
            "state": "resolved",
            "resolved_by": actor.username,
            "resolved_at": utcnow(),
            "resolution": resolution,
            "resolved_by_observation_id": observation_id,
        },
    )
    audit(
        session,
        actor,
        "resolve",
        "session_alert",
        row.id,
        {
            "state": {"old": expected, "new": "resolved"},
            "resolution": {"old": None, "new": resolution},
            "resolved_by_observation_id": {"old": None, "new": observation_id},
        },
    )


def _reading_back_in_range(session: Session, row: SessionAlert, observation_id: int) -> SessionObservation:
    """The reading named to resolve an alert, or a ConflictError saying why it cannot."""
    if row.session_id is None:
        raise ConflictError("a patient's alert outside a session has no readings", field="observation_id")
    context = AlertContext.load(session, row.session_id)
    for reading in readings_back_in_range(
        row, context.findings_of(row.id), context.readings, context.alerted
    ):
        if reading.id == observation_id:
            return reading
    raise ConflictError(
        f"reading {observation_id} is not a later reading with {row.alert_group.replace('_', ' ')} in range",
        field="observation_id",
    )
