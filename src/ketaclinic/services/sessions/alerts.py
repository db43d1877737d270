"""Durable session alerts: raised once per triggering reading or missed slot, acknowledged, resolved.

An alert row is inserted with INSERT ... ON CONFLICT (session_id, trigger_key) DO NOTHING in the
transaction that stores its reading, so a reading evaluated twice (two nurses, a retried request,
two pollers computing the same overdue slot) yields exactly one row and no reading loses its alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.monitoring import (
    AlertFinding,
    SessionState,
    overdue,
    overdue_findings,
    session_total_findings,
)
from ketaclinic.monitoring.rules import SESSION_TOTAL_LIMITS
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import SYSTEM, Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import Config, given_mg, minutes_between
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, SessionAlert

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OVERDUE_STATES = frozenset({SessionState.RUNNING.value, SessionState.PAUSED.value})


class AlertOut(BaseModel):
    """One alert as shown on the chart and returned by the poll."""

    id: int
    trigger_key: str
    rule_key: str
    severity: str
    advice: str
    message: str
    field: str | None
    value: float | None
    threshold: float | None
    t_min: float | None
    source: str
    source_status: str
    state: str
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    action_taken: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None


class AckIn(BaseModel):
    """Acknowledging an alert names the action taken."""

    model_config = ConfigDict(extra="forbid")
    action_taken: Text


class ResolveIn(BaseModel):
    """Resolving an acknowledged alert says how it ended."""

    model_config = ConfigDict(extra="forbid")
    resolution: Text


def alert_out(row: SessionAlert) -> AlertOut:
    """The output model of an alert row."""
    return AlertOut.model_validate(row, from_attributes=True)


def _finding_value(finding: AlertFinding) -> float | None:
    if finding.value is None:
        return None
    return float(finding.value)


def insert_findings(
    session: Session,
    session_id: int,
    findings: Iterable[AlertFinding],
    *,
    observation_id: int | None = None,
) -> list[str]:
    """Insert one alert per finding unless its trigger key is already there; the keys newly raised."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    raised: list[str] = []
    now = utcnow()
    for finding in findings:
        statement = (
            insert(SessionAlert)
            .values(
                session_id=session_id,
                trigger_key=finding.trigger_key,
                observation_id=observation_id,
                rule_key=finding.rule_key,
                severity=finding.severity.value,
                advice=finding.advice.value,
                message=finding.message,
                field=finding.field,
                value=_finding_value(finding),
                threshold=finding.threshold,
                t_min=finding.t_min,
                source=finding.source,
                source_status=finding.status.value,
                state="open",
                raised_at=now,
            )
            .on_conflict_do_nothing(index_elements=["session_id", "trigger_key"])
            .returning(SessionAlert.id)
        )
        if session.execute(statement).scalar_one_or_none() is not None:
            raised.append(finding.trigger_key)
    return raised


def due_findings(
    session: Session,
    row: InfusionSession,
    times: Mapping[str, Sequence[float]],
    now: datetime,
    config: Config,
) -> list[AlertFinding]:
    """What comes due with time while the infusion runs: missed charting slots, the total given past a max."""
    if row.state not in OVERDUE_STATES or row.started_at is None:
        return []
    now_min = minutes_between(row.started_at, now)
    limits = clinic_library(config).library.context(row.context_id).limit_set("session_total_mg")
    watched: dict[str, tuple[float, str]] = {
        kind: (limit.value, limit.source) for kind in SESSION_TOTAL_LIMITS if (limit := limits.get(kind))
    }
    return overdue_findings(overdue(row.cadence, times, now_min)) + session_total_findings(
        given_mg(session, row, now), now_min, watched
    )


def raise_due(
    session: Session,
    row: InfusionSession,
    times: Mapping[str, Sequence[float]],
    now: datetime,
    config: Config = None,
) -> list[str]:
    """Raise what came due with time (`times`: see charting.charted_times), audited as the system."""
    raised = insert_findings(session, row.id, due_findings(session, row, times, now, config))
    if raised:
        audit(session, SYSTEM, "raise_due_alerts", "infusion_session", row.id, {"alerts": {"new": raised}})
    return raised


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


def acknowledge_alert(db: Database, actor: Actor, session_id: int, alert_id: int, body: AckIn) -> AlertOut:
    """A named user acknowledges an open alert and records the action taken."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        _check_not_signed(session, session_id)
        row = _alert_for_update(session, session_id, alert_id)
        now = utcnow()
        _swap_state(
            session,
            row,
            "open",
            {
                "state": "acknowledged",
                "acknowledged_by": actor.username,
                "acknowledged_at": now,
                "action_taken": body.action_taken,
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
                "action_taken": {"old": None, "new": body.action_taken},
            },
        )
        return alert_out(row)


def resolve_alert(db: Database, actor: Actor, session_id: int, alert_id: int, body: ResolveIn) -> AlertOut:
    """Resolve an acknowledged alert."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        _check_not_signed(session, session_id)
        row = _alert_for_update(session, session_id, alert_id)
        _swap_state(
            session,
            row,
            "acknowledged",
            {
                "state": "resolved",
                "resolved_by": actor.username,
                "resolved_at": utcnow(),
                "resolution": body.resolution,
            },
        )
        audit(
            session,
            actor,
            "resolve",
            "session_alert",
            row.id,
            {
                "state": {"old": "acknowledged", "new": "resolved"},
                "resolution": {"old": None, "new": body.resolution},
            },
        )
        return alert_out(row)


def session_alerts(session: Session, session_id: int) -> list[AlertOut]:
    """Every alert of a session, open ones first, newest first within a state."""
    rows = session.execute(
        select(SessionAlert).where(SessionAlert.session_id == session_id).order_by(SessionAlert.id.desc())
    ).scalars()
    order = {"open": 0, "acknowledged": 1, "resolved": 2}
    return sorted((alert_out(r) for r in rows), key=lambda a: order.get(a.state, 3))
