"""Raising session alerts: every finding recorded once, joined to its group's one open alert or opening it.

Every finding is first recorded under a unique (session_id, trigger_key) with INSERT ... ON CONFLICT DO
NOTHING in the transaction that stores its reading, so a reading evaluated twice (two nurses, a retried
request, two pollers computing the same overdue slot) is recorded once and no reading loses its finding.
A new finding then joins its group's open alert (raising its severity when worse, its history kept) or
opens one; a partial unique index keeps at most one open alert per (session, group), also when two
writers race.

A patient's answers outside any session (PHQ-9 item 9) raise through the same path, owned by the
patient instead of a session: their findings are unique per (patient, trigger_key) and at most one
alert per (patient, group) is open outside sessions.

A clinic alert belongs to no patient (a stock count that differs from the controlled-substance ledger):
its one finding and its alert are unique per trigger key among alerts without session and patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.monitoring import (
    AlertFinding,
    AlertGroup,
    SessionState,
    is_clinic_wide,
    is_worse,
    overdue,
    overdue_findings,
    session_total_findings,
)
from ketaclinic.monitoring.alert_rules import SESSION_TOTAL_LIMITS
from ketaclinic.monitoring.escalation import SEVERITY_RANK
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import (
    Config,
    charted_times,
    given_mg,
    minutes_between,
    session_row,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, SessionAlert, SessionAlertFinding

OVERDUE_STATES = frozenset({SessionState.RUNNING.value, SessionState.PAUSED.value})


def insert_statement(session: Session) -> Any:
    """The dialect's INSERT (for ON CONFLICT DO NOTHING) of the session's database."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


@dataclass(frozen=True, slots=True)
class AlertOwner:
    """Whose alert it is: an infusion session's, a patient's outside any session (their answers), or the
    clinic's (no patient: `subject` is the trigger key of its one finding, e.g. a stock count's)."""

    patient_id: int | None
    session_id: int | None = None
    course_id: int | None = None
    pro_response_id: int | None = None
    subject: str | None = None

    @property
    def is_clinic(self) -> bool:
        """True for a clinic alert, which belongs to no session and no patient."""
        return self.session_id is None and self.patient_id is None

    def finding_conflict(self) -> dict[str, Any]:
        """ON CONFLICT target of the unique index that records a finding once."""
        if self.session_id is not None:
            return {"index_elements": ["session_id", "trigger_key"]}
        if self.is_clinic:
            return {"index_elements": ["trigger_key"], "index_where": _clinic_only(SessionAlertFinding)}
        return {
            "index_elements": ["patient_id", "trigger_key"],
            "index_where": SessionAlertFinding.session_id.is_(None),
        }

    def open_conflict(self) -> dict[str, Any]:
        """ON CONFLICT target of the partial unique index that keeps one open alert per group."""
        if self.session_id is not None:
            return {
                "index_elements": ["session_id", "alert_group"],
                "index_where": SessionAlert.state == "open",
            }
        if self.is_clinic:
            return {"index_elements": ["trigger_key"], "index_where": _clinic_only(SessionAlert)}
        return {
            "index_elements": ["patient_id", "alert_group"],
            "index_where": and_(SessionAlert.state == "open", SessionAlert.session_id.is_(None)),
        }

    def owns(self) -> ColumnElement[bool]:
        """The alerts of this owner."""
        if self.session_id is not None:
            return SessionAlert.session_id == self.session_id
        if self.is_clinic:
            return and_(_clinic_only(SessionAlert), SessionAlert.trigger_key == self.subject)
        return and_(SessionAlert.patient_id == self.patient_id, SessionAlert.session_id.is_(None))


def _clinic_only(table: type[SessionAlert] | type[SessionAlertFinding]) -> ColumnElement[bool]:
    """The rows of clinic alerts: no session, no patient (the partial unique indexes' predicate)."""
    return and_(table.session_id.is_(None), table.patient_id.is_(None))


def clinic_owner(subject: str) -> AlertOwner:
    """The owner of a clinic alert about `subject` (the trigger key of its one finding)."""
    return AlertOwner(patient_id=None, subject=subject)


def session_owner(session: Session, session_id: int) -> AlertOwner:
    """The owner of a session's alerts (the session, with its patient)."""
    # The writing services hold the session row already (locked): no query then.
    row = session.get(InfusionSession, session_id)
    if row is None:
        raise NotFoundError(f"no infusion session {session_id}", field="session_id")
    return AlertOwner(patient_id=row.patient_id, session_id=session_id)


def _origin(owner: AlertOwner, finding: AlertFinding, observation_id: int | None) -> dict[str, Any]:
    """Where a finding comes from: the columns a finding row and the alert it opens share."""
    return {
        "session_id": owner.session_id,
        "patient_id": owner.patient_id,
        "pro_response_id": owner.pro_response_id,
        "trigger_key": finding.trigger_key,
        "observation_id": observation_id,
        "alert_group": finding.group.value,
    }


def _record_findings(
    session: Session,
    owner: AlertOwner,
    findings: Sequence[AlertFinding],
    observation_id: int | None,
    now: datetime,
) -> dict[str, int]:
    """Record each finding once per trigger key (one INSERT); the row ids of those newly recorded, by key."""
    table = SessionAlertFinding.__table__  # a Core statement: no ORM bookkeeping for rows it never loads
    statement = (
        insert_statement(session)(table)
        .values(
            [
                {
                    **_origin(owner, finding, observation_id),
                    "rule_key": finding.rule_key,
                    "severity": finding.severity.value,
                    "message": finding.message,
                    "value": _finding_value(finding),
                    "t_min": finding.t_min,
                    "raised_at": now,
                }
                for finding in findings
            ]
        )
        .on_conflict_do_nothing(**owner.finding_conflict())
        .returning(table.c.trigger_key, table.c.id)
    )
    return {key: finding_id for key, finding_id in session.execute(statement).tuples()}


def _open_alert(session: Session, owner: AlertOwner, group: AlertGroup) -> SessionAlert | None:
    return session.execute(
        select(SessionAlert)
        .where(owner.owns(), SessionAlert.alert_group == group.value, SessionAlert.state == "open")
        .with_for_update()
    ).scalar_one_or_none()


def _finding_columns(finding: AlertFinding) -> dict[str, Any]:
    """The alert columns a finding sets when it opens or escalates an alert."""
    return {
        "rule_key": finding.rule_key,
        "severity": finding.severity.value,
        "advice": finding.advice.value,
        "message": finding.message,
        "field": finding.field,
        "value": _finding_value(finding),
        "threshold": finding.threshold,
        "t_min": finding.t_min,
        "source": finding.source,
        "source_status": finding.status.value,
    }


def _open_or_escalate(
    session: Session,
    actor: Actor,
    owner: AlertOwner,
    finding: AlertFinding,
    observation_id: int | None,
    now: datetime,
    held: dict[AlertGroup, SessionAlert],
) -> int:
    """The id of the group's open alert after `finding` joined it (opening one if there is none); an
    escalation is audited on the alert as `actor` (who charted the reading, or the system).

    `held` keeps the open alerts this transaction has locked, by group, for the next finding of the group.
    """
    critical_since = now if finding.severity.value == "critical" else None
    clinic_wide = is_clinic_wide(finding.severity.value, finding.notify_physician)
    for _ in range(2):  # a writer that loses the race for the open slot escalates the winner's alert
        row = held.get(finding.group) or _open_alert(session, owner, finding.group)
        if row is not None:
            held[finding.group] = row
            values: dict[str, Any] = {"last_raised_at": now, "clinic_wide": row.clinic_wide or clinic_wide}
            if is_worse(finding.severity.value, row.severity):
                values |= _finding_columns(finding) | {
                    "observation_id": observation_id,
                    "pro_response_id": owner.pro_response_id,
                }
                values["critical_since"] = row.critical_since or critical_since
                _audit_escalation(session, actor, row, finding)
            elif clinic_wide and not row.clinic_wide:  # a finding that calls the physician widens the alert
                audit(
                    session,
                    actor,
                    "widen",
                    "session_alert",
                    row.id,
                    {"clinic_wide": {"old": False, "new": True}},
                    f"{finding.rule_key}: {finding.message}",
                )
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return row.id
        opened = session.execute(
            insert_statement(session)(SessionAlert)
            .values(
                **_origin(owner, finding, observation_id),
                course_id=owner.course_id,
                clinic_wide=clinic_wide,
                state="open",
                raised_at=now,
                last_raised_at=now,
                critical_since=critical_since,
                **_finding_columns(finding),
            )
            .on_conflict_do_nothing(**owner.open_conflict())
            .returning(SessionAlert.id)
        ).scalar_one_or_none()
        if opened is not None:
            return cast(int, opened)
    raise ConflictError("the group's open alert changed twice while raising a finding", field="alert_id")


def _audit_escalation(session: Session, actor: Actor, row: SessionAlert, finding: AlertFinding) -> None:
    """The alert's change of severity, with the finding that raised it as the reason."""
    changes = {"severity": {"old": row.severity, "new": finding.severity.value}}
    changes |= {"rule_key": {"old": row.rule_key, "new": finding.rule_key}}
    audit(
        session, actor, "escalate", "session_alert", row.id, changes, f"{finding.rule_key}: {finding.message}"
    )


def _finding_value(finding: AlertFinding) -> float | None:
    if finding.value is None:
        return None
    return float(finding.value)


def insert_findings(
    session: Session,
    actor: Actor,
    session_id: int,
    findings: Iterable[AlertFinding],
    *,
    observation_id: int | None = None,
) -> list[str]:
    """Record each finding of a session once, joined to its group's open alert; the keys newly recorded."""
    found = list(findings)
    if not found:  # most readings raise nothing
        return []
    return raise_findings(
        session, actor, session_owner(session, session_id), found, observation_id=observation_id
    )


def raise_findings(
    session: Session,
    actor: Actor,
    owner: AlertOwner,
    findings: Iterable[AlertFinding],
    *,
    observation_id: int | None = None,
) -> list[str]:
    """Record each finding once, joined to its owner's open alert of its group (an escalation audited as
    `actor`); the trigger keys newly recorded."""
    # Worst first, so an alert opened by this reading shows its most severe finding at once.
    ordered = sorted(findings, key=lambda f: -SEVERITY_RANK[f.severity])
    if not ordered:
        return []
    now = utcnow()
    recorded = _record_findings(session, owner, ordered, observation_id, now)
    raised: list[str] = []
    held: dict[AlertGroup, SessionAlert] = {}
    joined: dict[int, list[int]] = {}
    for finding in ordered:
        finding_id = recorded.pop(finding.trigger_key, None)
        if finding_id is None:  # recorded before (or twice in this list): its alert already has it
            continue
        alert_id = _open_or_escalate(session, actor, owner, finding, observation_id, now, held)
        joined.setdefault(alert_id, []).append(finding_id)
        raised.append(finding.trigger_key)
        publish(session, LiveEvent("alert", "open", session_id=owner.session_id, alert_id=alert_id))
    for alert_id, finding_ids in joined.items():
        session.execute(
            update(SessionAlertFinding)
            .where(SessionAlertFinding.id.in_(finding_ids))
            .values(alert_id=alert_id)
        )
    return raised


def recorded_trigger_keys(session: Session, session_id: int) -> set[str]:
    """The trigger keys of every finding recorded in a session."""
    return set(
        session.execute(
            select(SessionAlertFinding.trigger_key).where(SessionAlertFinding.session_id == session_id)
        ).scalars()
    )


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
    config: Config,
) -> list[str]:
    """Raise what came due with time (`times`: see charting.charted_times), audited as the system."""
    raised = insert_findings(session, SYSTEM, row.id, due_findings(session, row, times, now, config))
    if raised:
        audit(session, SYSTEM, "raise_due_alerts", "infusion_session", row.id, {"alerts": {"new": raised}})
    return raised


def catch_up_due(db: Database, session_id: int, *, config: Config) -> bool:
    """Raise what came due with time in one session; True when something was written.

    Every open chart polls: read without the write lock, and write only when something came due.
    """
    with db.read() as session:
        row = session_row(session, session_id)
        recorded = recorded_trigger_keys(session, row.id)
        due = due_findings(session, row, charted_times(session, row), utcnow(), config)
        if all(f.trigger_key in recorded for f in due):
            return False
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        raise_due(session, row, charted_times(session, row), utcnow(), config)
    return True
