"""The follow-up page's lists: items due (overdue first) and items answered lately."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ketaclinic.errors import InputError
from ketaclinic.services.outcomes.courses import FollowupOut, followup_out
from ketaclinic.services.outcomes.link_state import link_issue_times, live_links
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import FollowupItem, TreatmentCourse
from ketaclinic.store.tables.patients import Patient


def due_followups(
    db: Database, actor: Actor, *, today: date | None = None, horizon_days: int = 7
) -> list[FollowupOut]:
    """Open follow-ups due by `today + horizon_days` (overdue first) of running courses, unless superseded."""
    require(actor, Permission.OUTCOMES_RECORD)
    if not 0 <= horizon_days <= 90:
        raise InputError("horizon_days must be 0-90", field="horizon_days")
    today = today or date.today()
    later = aliased(FollowupItem)
    # An open item is superseded once a later contact of the same course has been answered.
    answered_later = (
        select(later.id)
        .where(
            later.course_id == FollowupItem.course_id,
            later.due_on > FollowupItem.due_on,
            later.status == "completed",
        )
        .exists()
    )
    with db.transaction() as session:
        rows = session.execute(
            select(FollowupItem, Patient)
            .join(Patient, Patient.id == FollowupItem.patient_id)
            .join(TreatmentCourse, TreatmentCourse.id == FollowupItem.course_id)
            .where(
                FollowupItem.status == "due",
                FollowupItem.due_on <= today + timedelta(days=horizon_days),
                TreatmentCourse.discontinued == "none",
                ~answered_later,
            )
            .order_by(FollowupItem.due_on, FollowupItem.id)
        ).all()
        links = live_links(session, [item.id for item, _patient in rows])
        return [followup_out(item, patient, actor, today, links.get(item.id)) for item, patient in rows]


def answered_followups(db: Database, actor: Actor, *, days: int = 14) -> list[FollowupOut]:
    """Follow-ups answered in the last `days` days, the latest first (when and through which link)."""
    require(actor, Permission.OUTCOMES_RECORD)
    since = utcnow() - timedelta(days=days)
    with db.read() as session:
        rows = session.execute(
            select(FollowupItem, Patient)
            .join(Patient, Patient.id == FollowupItem.patient_id)
            .where(FollowupItem.status == "completed", FollowupItem.completed_at >= since)
            .order_by(FollowupItem.completed_at.desc(), FollowupItem.id.desc())
        ).all()
        issued = link_issue_times(session, [item.id for item, _patient in rows])
        today = date.today()
        return [
            followup_out(item, patient, actor, today, None).model_copy(
                update={"link_issued_at": issued.get(item.id)}
            )
            for item, patient in rows
        ]
