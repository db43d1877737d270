"""One-time PRO links: issue (or re-issue) a link, open it without a login, submit the answers once.

One link per follow-up item is live: issuing a new one revokes the earlier, which then answers
"no longer valid".
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, GoneError, NotFoundError
from ketaclinic.inputs import RecordRef
from ketaclinic.services.audit import audit
from ketaclinic.services.outcomes.pro_alerts import SubmitOut, crisis_for
from ketaclinic.services.outcomes.pros import Answers, score_answers, store_pro
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import Config
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import FollowupItem, ProLink
from ketaclinic.store.tables.patients import Patient

LINK_TTL_DAYS_DEFAULT = 7


LINK_TTL_DAYS_MAX = 30


class LinkGoneError(GoneError):
    """A one-time link that has expired or was already used."""


class LinkIn(BaseModel):
    """Issue a one-time questionnaire link for a due follow-up item."""

    model_config = ConfigDict(extra="forbid")
    followup_item_id: RecordRef
    # Where the link was asked for: when given, the item must be one of this course's.
    course_id: RecordRef | None = None
    ttl_days: int = Field(default=LINK_TTL_DAYS_DEFAULT, ge=1, le=LINK_TTL_DAYS_MAX)


class LinkOut(BaseModel):
    """A freshly issued link: the token is shown once, only its hash is stored."""

    token: str
    path: str
    expires_at: datetime
    followup_item_id: int
    course_id: int
    replaced_earlier: bool
    link_id: int


class LinkView(BaseModel):
    """What the patient's questionnaire page may show: a first name at most, the instruments."""

    first_name: str
    instruments: list[str]
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _revoke_earlier(session: Session, actor: Actor, item: FollowupItem, now: datetime) -> bool:
    """Revoke the item's live link, if any (audited), so that only the new one answers; True if one was."""
    earlier = session.execute(
        select(ProLink).where(
            ProLink.followup_item_id == item.id, ProLink.used_at.is_(None), ProLink.revoked_at.is_(None)
        )
    ).scalars()
    revoked = False
    for link in earlier:
        revoked = True
        link.revoked_at, link.revoked_by = now, actor.user_id
        audit(
            session,
            actor,
            "revoke",
            "pro_link",
            link.id,
            {"revoked_at": {"old": None, "new": now.isoformat()}},
            "a new link was issued for the same follow-up",
        )
    session.flush()  # before the new link's insert: the index allows one live link per item
    return revoked


def issue_link(db: Database, actor: Actor, data: LinkIn) -> LinkOut:
    """A one-time questionnaire link for a due item (shown once to copy, or sent by the outbox).

    An earlier live link of the item is revoked in the same transaction.
    """
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        # The row lock makes two issues for one item wait for each other (one live link stays).
        item = session.get(FollowupItem, data.followup_item_id, with_for_update=True)
        if item is None or data.course_id not in (None, item.course_id):
            raise NotFoundError(f"no follow-up item {data.followup_item_id}", field="followup_item_id")
        return issue_link_in(session, actor, item, data.ttl_days)


def issue_link_in(session: Session, actor: Actor, item: FollowupItem, ttl_days: int) -> LinkOut:
    """Issue the item's link in the caller's transaction (the outbox queues its message in the same one)."""
    if item.status != "due":
        raise ConflictError(f"follow-up item {item.id} is already {item.status}", field="followup_item_id")
    token = secrets.token_urlsafe(24)
    now = utcnow()
    replaced = _revoke_earlier(session, actor, item, now)
    link = ProLink(
        token_sha256=_hash(token),
        patient_id=item.patient_id,
        followup_item_id=item.id,
        instruments=item.instruments,
        created_at=now,
        created_by=actor.user_id,
        expires_at=now + timedelta(days=ttl_days),
    )
    session.add(link)
    session.flush()
    audit(
        session,
        actor,
        "create",
        "pro_link",
        link.id,
        {
            "followup_item_id": {"old": None, "new": item.id},
            "expires_at": {"old": None, "new": link.expires_at.isoformat()},
        },
    )
    return LinkOut(
        token=token,
        path=f"/r/{token}",
        expires_at=link.expires_at,
        followup_item_id=item.id,
        course_id=item.course_id,
        replaced_earlier=replaced,
        link_id=link.id,
    )


def _open(session: Session, token: str) -> tuple[ProLink, FollowupItem | None]:
    if not 16 <= len(token) <= 64:
        raise NotFoundError("this link is not known")
    link = session.execute(select(ProLink).where(ProLink.token_sha256 == _hash(token))).scalar_one_or_none()
    if link is None:
        raise NotFoundError("this link is not known")
    if link.used_at is not None:
        raise LinkGoneError("this link has already been used")
    if link.revoked_at is not None:
        raise LinkGoneError("this link is no longer valid: the clinic has issued a newer one")
    if link.expires_at <= utcnow():
        raise LinkGoneError("this link has expired")
    item = session.get(FollowupItem, link.followup_item_id) if link.followup_item_id else None
    if item is not None and item.status != "due":
        raise LinkGoneError("this questionnaire has already been answered")
    return link, item


def view_link(db: Database, token: str) -> LinkView:
    """What the patient's link shows: a first name and the questionnaire (no login)."""
    with db.transaction() as session:
        link, _item = _open(session, token)
        patient = session.get(Patient, link.patient_id)
        assert patient is not None  # the foreign key guarantees it
        return LinkView(
            first_name=patient.given_name, instruments=link.instruments.split(","), expires_at=link.expires_at
        )


def submit_link(db: Database, token: str, answers: Answers, *, config: Config) -> SubmitOut:
    """The patient answers through the link: the link spent and the alerts raised in one transaction.

    The answer carries the clinic's crisis text when the answers raised a mental-health alert.
    """
    columns, document = score_answers(answers)
    with db.transaction() as session:
        link, item = _open(session, token)
        now = utcnow()
        # Compare-and-swap: of two concurrent submissions only one finds used_at still empty (on
        # PostgreSQL the second waits for the first's row lock, then re-reads the condition).
        spent: CursorResult[Any] = session.execute(  # type: ignore[assignment]  # DML answers a CursorResult
            update(ProLink)
            .where(ProLink.id == link.id, ProLink.used_at.is_(None), ProLink.revoked_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount != 1:
            raise LinkGoneError("this link has already been used or is no longer valid")
        patient = session.get(Patient, link.patient_id)
        assert patient is not None
        _row, findings = store_pro(
            session,
            link.patient_id,
            columns,
            document,
            course_id=item.course_id if item else None,
            item=item,
            timepoint="unscheduled",
            weeks_after_series=None,
            collected_at=now,
            via="link",
            entered_by=None,
            synthetic=patient.synthetic,
            actor=Actor(user_id=None, username=f"patient-link:{link.id}", role=None),
        )
        return SubmitOut(received_at=now, crisis=crisis_for(findings, config))
