"""Clinic-wide alerts: critical ones and those that involve the physician, for every physician and nurse.

A critical alert left unacknowledged past the clinic's re-notification time gets one durable
notification row (unique per alert and kind, inserted with ON CONFLICT DO NOTHING), produced whenever
the clinic's open alerts are listed or by the periodic check, so it is never doubled nor lost.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from ketaclinic.monitoring import EscalationPolicy, escalation_policy, most_severe_first
from ketaclinic.monitoring.escalation import ESCALATION_FILE
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import SYSTEM, Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.alert_raising import OVERDUE_STATES, catch_up_due, insert_statement
from ketaclinic.services.sessions.alert_records import RENOTIFY, AlertOut, alerts_out
from ketaclinic.services.sessions.charting import Config
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import AlertNotification, InfusionSession, SessionAlert

AlertState = Literal["open", "acknowledged", "resolved"]


def clinic_policy(config: Config) -> EscalationPolicy:
    """The re-notification policy: shipped, or the clinic's alert_escalation.toml in its config dir."""
    config_dir = clinic_library(config).config_dir
    return escalation_policy(None if config_dir is None else config_dir / ESCALATION_FILE)


def _due_for_renotification(session: Session, policy: EscalationPolicy, now: datetime) -> list[SessionAlert]:
    notified = select(AlertNotification.alert_id).where(AlertNotification.kind == RENOTIFY)
    rows = session.execute(
        select(SessionAlert).where(
            SessionAlert.state == "open",
            SessionAlert.critical_since.is_not(None),
            SessionAlert.id.not_in(notified),
        )
    ).scalars()
    return [row for row in rows if row.critical_since and policy.renotify_due(row.critical_since, now)]


def renotify_unacknowledged(db: Database, *, config: Config, now: datetime | None = None) -> list[int]:
    """Record one re-notification per critical alert unacknowledged past the policy time; the alert ids."""
    policy, at = clinic_policy(config), now or utcnow()
    with db.read() as session:
        if not _due_for_renotification(session, policy, at):
            return []
    made: list[int] = []
    with db.transaction() as session:
        for row in _due_for_renotification(session, policy, at):
            statement = (
                insert_statement(session)(AlertNotification)
                .values(alert_id=row.id, session_id=row.session_id, kind=RENOTIFY, created_at=at)
                .on_conflict_do_nothing(index_elements=["alert_id", "kind"])
                .returning(AlertNotification.id)
            )
            if session.execute(statement).scalar_one_or_none() is None:
                continue  # another worker or request recorded it first
            made.append(row.id)
            audit(
                session,
                SYSTEM,
                "renotify",
                "session_alert",
                row.id,
                {
                    "notification": {"old": None, "new": RENOTIFY},
                    "renotify_after_min": policy.renotify_after_min,
                },
            )
    return made


def check_clinic(db: Database, *, config: Config, now: datetime | None = None) -> list[int]:
    """The periodic check: raise what came due in every running session, then re-notify; the alert ids."""
    with db.read() as session:
        running = list(
            session.execute(
                select(InfusionSession.id).where(InfusionSession.state.in_(OVERDUE_STATES))
            ).scalars()
        )
    for session_id in running:
        catch_up_due(db, session_id, config=config)
    return renotify_unacknowledged(db, config=config, now=now)


def _visible_to(actor: Actor) -> ColumnElement[bool]:
    """The clinic-wide alerts an actor may see: patients' and sessions' with sessions.view, the clinic's
    own (a stock count, no patient) with ledger.view (an admin sees only those)."""
    if not (actor.can(Permission.SESSIONS_VIEW) or actor.can(Permission.LEDGER_VIEW)):
        require(actor, Permission.SESSIONS_VIEW)
    clinic_only = and_(SessionAlert.session_id.is_(None), SessionAlert.patient_id.is_(None))
    parts: list[ColumnElement[bool]] = []
    if actor.can(Permission.SESSIONS_VIEW):
        parts.append(not_(clinic_only))
    if actor.can(Permission.LEDGER_VIEW):
        parts.append(clinic_only)
    return and_(SessionAlert.clinic_wide.is_(True), or_(*parts))


def clinic_alerts(
    db: Database, actor: Actor, status: AlertState = "open", *, config: Config
) -> list[AlertOut]:
    """The clinic-wide alerts in `status` the actor may see, each with its session, most severe first."""
    visible = _visible_to(actor)
    check_clinic(db, config=config)
    with db.read() as session:
        rows = list(
            session.execute(
                select(SessionAlert)
                .where(visible, SessionAlert.state == status)
                .order_by(SessionAlert.session_id)
            ).scalars()
        )
        found = [
            alert
            for session_id, group in groupby(rows, key=lambda r: r.session_id)
            for alert in alerts_out(session, session_id, group)
        ]
    return sorted(found, key=lambda a: most_severe_first(a.severity, a.last_raised_at))


def open_clinic_alert_count(db: Database, actor: Actor) -> int:
    """How many clinic-wide alerts the actor may see are open (the navigation badge)."""
    visible = _visible_to(actor)
    with db.read() as session:
        count = session.execute(
            select(func.count()).select_from(SessionAlert).where(visible, SessionAlert.state == "open")
        ).scalar_one()
    return int(count)
