"""How an alert reads: its findings and history, the reading back in range, its re-notification."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.monitoring import (
    ACTION_LABELS,
    AlertAction,
    AlertGroup,
    actions_for,
    alert_groups_of_fields,
    is_worse,
    most_severe_first,
)
from ketaclinic.store.tables.sessions import (
    AlertNotification,
    SessionAlert,
    SessionAlertFinding,
    SessionObservation,
)

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


def readings_back_in_range(
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
        later = readings_back_in_range(row, findings, self.readings, self.alerted)
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
