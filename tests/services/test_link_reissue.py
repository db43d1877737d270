"""One live link per follow-up item: a new one revokes the earlier; lists show issued and answered times."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketaclinic.services.outcomes.courses import list_courses
from ketaclinic.services.outcomes.followup_lists import due_followups
from ketaclinic.services.outcomes.links import LinkGoneError, LinkIn, issue_link, submit_link, view_link
from ketaclinic.services.outcomes.pros import Answers
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import ProLink
from tests.audit_support import latest_event
from tests.services.test_outcomes_service import treated


def _due_item(db: Database, nurse: Actor, mrn: str) -> int:
    course = treated(db, nurse, mrn, 8, {}, series_end=date.today() - timedelta(days=8))
    return next(f.id for f in course.followups if f.weeks_after_series == 1)


def test_reissuing_revokes_the_earlier_link(db: Database, staff: dict[str, Actor]) -> None:
    item_id = _due_item(db, staff["nurse"], "R1")
    first = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item_id))
    second = issue_link(db, staff["physician"], LinkIn(followup_item_id=item_id))
    with pytest.raises(LinkGoneError, match="no longer valid"):
        view_link(db, first.token)
    with pytest.raises(LinkGoneError, match="no longer valid"):
        submit_link(db, first.token, Answers(nrs={"average": 4}), config=None)
    assert view_link(db, second.token).instruments
    with db.read() as session:
        links = session.execute(select(ProLink).order_by(ProLink.id)).scalars().all()
        assert [link.revoked_at is None for link in links] == [False, True]
        assert links[0].revoked_by == staff["physician"].user_id


def test_the_revocation_is_audited_with_its_reason(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.store.tables.audit import AuditEvent

    item_id = _due_item(db, staff["nurse"], "R2")
    first = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item_id))
    issue_link(db, staff["nurse"], LinkIn(followup_item_id=item_id))
    with db.read() as session:
        actions = [
            (e.action, e.entity_id, e.reason)
            for e in session.execute(
                select(AuditEvent).where(AuditEvent.entity == "pro_link").order_by(AuditEvent.seq)
            ).scalars()
        ]
        first_id = session.execute(
            select(ProLink.id).where(ProLink.expires_at == first.expires_at)
        ).scalar_one()
    assert [a for a, _i, _r in actions] == ["create", "revoke", "create"]
    assert actions[1][1] == str(first_id) and "new link" in actions[1][2]


def test_lists_show_when_the_link_was_issued_and_when_it_was_answered(
    db: Database, staff: dict[str, Actor]
) -> None:
    item_id = _due_item(db, staff["nurse"], "R3")
    (before,) = [f for f in due_followups(db, staff["nurse"]) if f.id == item_id]
    assert before.link_issued_at is None and before.answered_at is None
    issue_link(db, staff["nurse"], LinkIn(followup_item_id=item_id))
    second = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item_id))
    (listed,) = [f for f in due_followups(db, staff["nurse"]) if f.id == item_id]
    assert listed.link_issued_at is not None and listed.link_expires_at == second.expires_at
    submit_link(db, second.token, Answers(nrs={"average": 3}), config=None)
    pid = listed.patient_id
    (answered,) = [f for c in list_courses(db, staff["nurse"], pid) for f in c.followups if f.id == item_id]
    assert answered.status == "completed" and answered.answered_at is not None
    assert answered.link_issued_at is None  # spent: no live link any more
    with pytest.raises(LinkGoneError):
        view_link(db, second.token)
    changes = json.loads(latest_event(db, "pro_response").changes_json)
    assert changes["scores"]["new"]
