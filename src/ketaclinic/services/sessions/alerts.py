"""Session alerts as people see them: one open alert per group, acknowledged with one pick, then resolved.

Raising lives in alert_raising; here an alert is read with the history of readings it collected,
acknowledged by a named user with the action taken, and resolved, by a later reading back in range or
in words (compare-and-swap: never twice).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import CleanText, RecordRef
from ketaclinic.monitoring import (
    ACTION_LABELS,
    AlertAction,
    AlertGroup,
    SessionState,
    actions_for,
    alert_groups_of_fields,
    is_worse,
    most_severe_first,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import (
    AlertNotification,
    InfusionSession,
    SessionAlert,
    SessionAlertFinding,
    SessionObservation,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), CleanText]

# The one notification kind so far: a critical alert still unacknowledged past the policy time.
RENOTIFY = "critical_unacknowledged"


class FindingOut(BaseModel):
    """One finding an alert collected: its history of readings."""

    model_config = ConfigDict(from_attributes=True)

    trigger_key: str
    rule_key: str
    severity: str
    message: str
    value: float | None
    t_min: float | None
    observation_id: int | None
    raised_at: datetime


class ActionOut(BaseModel):
    """An action offered to acknowledge an alert (the advised one first)."""

    key: AlertAction
    label: str


class ReadingRef(BaseModel):
    """A later reading that shows the alert's group back in range."""

    observation_id: int
    observed_at: datetime


class AlertOut(BaseModel):
    """One alert as shown on the chart, returned by the poll and by the clinic-wide list."""

    id: int
    session_id: int | None  # None: a patient's alert outside any session (raised by their answers)
    patient_id: int | None
    course_id: int | None = None
    pro_response_id: int | None = None
    group: str
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
    clinic_wide: bool
    raised_at: datetime
    last_raised_at: datetime
    critical_since: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    action_taken: str | None
    ack_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    resolved_by_observation_id: int | None
    actions: list[ActionOut]
    findings: list[FindingOut]
    history: list[FindingOut]  # the worst finding of each reading (or missed slot), oldest first
    back_in_range: ReadingRef | None = None
    renotified_at: datetime | None = None


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


def alert_out(
    row: SessionAlert,
    findings: Sequence[SessionAlertFinding] = (),
    *,
    back_in_range: ReadingRef | None = None,
    renotified_at: datetime | None = None,
) -> AlertOut:
    """The output model of an alert row with its findings."""
    return AlertOut(
        **{name: getattr(row, name) for name in AlertOut.model_fields if hasattr(SessionAlert, name)},
        group=row.alert_group,
        actions=[ActionOut(key=a, label=ACTION_LABELS[a]) for a in actions_for(row.advice)],
        findings=[FindingOut.model_validate(f) for f in findings],
        history=_worst_per_reading(findings),
        back_in_range=back_in_range,
        renotified_at=renotified_at,
    )


def _worst_per_reading(findings: Sequence[SessionAlertFinding]) -> list[FindingOut]:
    worst: dict[int | str, SessionAlertFinding] = {}
    for finding in findings:
        key = finding.observation_id if finding.observation_id is not None else finding.trigger_key
        if key not in worst or is_worse(finding.severity, worst[key].severity):
            worst[key] = finding
    return [FindingOut.model_validate(f) for f in sorted(worst.values(), key=lambda f: f.id)]


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


def _readings_back_in_range(
    row: SessionAlert,
    findings: Sequence[SessionAlertFinding],
    readings: Sequence[SessionObservation],
    groups_alerted: Mapping[int, set[str]],
) -> list[SessionObservation]:
    """Readings after the alert's last finding that chart its group and raised nothing in it, newest first."""
    by_id = {r.id: r for r in readings}
    alerted_at = [by_id[f.observation_id].observed_at for f in findings if f.observation_id in by_id]
    if not alerted_at:
        return []  # raised with time (overdue, dose given), not by a reading
    last = max(alerted_at)
    group = AlertGroup(row.alert_group)
    return sorted(
        (
            r
            for r in readings
            if r.observed_at > last
            and r.phase != "pre"  # the check-in baseline is not read against the rise rules
            and group in alert_groups_of_fields(json.loads(r.values_json))
            and group.value not in groups_alerted.get(r.id, set())
        ),
        key=lambda r: r.observed_at,
        reverse=True,
    )


def _reading_back_in_range(session: Session, row: SessionAlert, observation_id: int) -> SessionObservation:
    """The reading named to resolve an alert, or a ConflictError saying why it cannot."""
    if row.session_id is None:
        raise ConflictError("a patient's alert outside a session has no readings", field="observation_id")
    context = AlertContext.load(session, row.session_id)
    for reading in _readings_back_in_range(
        row, context.findings_of(row.id), context.readings, context.alerted
    ):
        if reading.id == observation_id:
            return reading
    raise ConflictError(
        f"reading {observation_id} is not a later reading with {row.alert_group.replace('_', ' ')} in range",
        field="observation_id",
    )


class AlertContext:
    """What reading a session's alerts needs: their findings, the readings, the notifications."""

    def __init__(
        self,
        findings: Sequence[SessionAlertFinding],
        readings: Sequence[SessionObservation],
        renotified: Mapping[int, datetime],
    ) -> None:
        self.readings = readings
        self.renotified = renotified
        self._findings: dict[int, list[SessionAlertFinding]] = {}
        self.alerted: dict[int, set[str]] = {}
        for finding in findings:
            self._findings.setdefault(finding.alert_id or 0, []).append(finding)
            if finding.observation_id is not None:
                self.alerted.setdefault(finding.observation_id, set()).add(finding.alert_group)

    @classmethod
    def load(cls, session: Session, session_id: int) -> AlertContext:
        """Load the findings, readings and re-notifications of one session."""
        findings = session.execute(
            select(SessionAlertFinding)
            .where(SessionAlertFinding.session_id == session_id)
            .order_by(SessionAlertFinding.id)
        ).scalars()
        readings = session.execute(
            select(SessionObservation).where(SessionObservation.session_id == session_id)
        ).scalars()
        notes = session.execute(
            select(AlertNotification.alert_id, AlertNotification.created_at).where(
                AlertNotification.session_id == session_id, AlertNotification.kind == RENOTIFY
            )
        )
        return cls(list(findings), list(readings), {alert_id: at for alert_id, at in notes})

    @classmethod
    def of_alerts(cls, session: Session, alert_ids: Sequence[int]) -> AlertContext:
        """Load the findings and re-notifications of alerts outside any session (no readings)."""
        findings = session.execute(
            select(SessionAlertFinding)
            .where(SessionAlertFinding.alert_id.in_(alert_ids))
            .order_by(SessionAlertFinding.id)
        ).scalars()
        notes = session.execute(
            select(AlertNotification.alert_id, AlertNotification.created_at).where(
                AlertNotification.alert_id.in_(alert_ids), AlertNotification.kind == RENOTIFY
            )
        )
        return cls(list(findings), [], {alert_id: at for alert_id, at in notes})

    def findings_of(self, alert_id: int) -> list[SessionAlertFinding]:
        """The findings an alert collected, oldest first."""
        return self._findings.get(alert_id, [])

    def out(self, row: SessionAlert) -> AlertOut:
        """The alert with its history, the reading that shows it back in range, its re-notification."""
        findings = self.findings_of(row.id)
        later = _readings_back_in_range(row, findings, self.readings, self.alerted)
        later = [] if row.state == "resolved" else later
        back = ReadingRef(observation_id=later[0].id, observed_at=later[0].observed_at) if later else None
        return alert_out(row, findings, back_in_range=back, renotified_at=self.renotified.get(row.id))


def alerts_out(session: Session, session_id: int | None, rows: Iterable[SessionAlert]) -> list[AlertOut]:
    """Alerts of one session (None: alerts outside sessions) as shown, most severe first.

    A session's findings and readings are loaded once for all its alerts.
    """
    rows = list(rows)
    context = (
        AlertContext.of_alerts(session, [row.id for row in rows])
        if session_id is None
        else AlertContext.load(session, session_id)
    )
    return sorted(
        (context.out(row) for row in rows), key=lambda a: most_severe_first(a.severity, a.last_raised_at)
    )


def session_alerts(session: Session, session_id: int) -> list[AlertOut]:
    """Every alert of a session, most severe first, then newest."""
    rows = session.execute(select(SessionAlert).where(SessionAlert.session_id == session_id)).scalars()
    return alerts_out(session, session_id, rows)
