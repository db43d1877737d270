"""Which follow-up items have a live questionnaire link, and since when (read by the course screens)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.store.tables.outcomes import ProLink


class LinkTimes(BaseModel):
    """When an item's live link was issued and until when it is valid."""

    issued_at: datetime
    expires_at: datetime


def live_links(session: Session, item_ids: list[int]) -> dict[int, LinkTimes]:
    """The live (unused, unrevoked) link of each item that has one, by item id."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(ProLink.followup_item_id, ProLink.created_at, ProLink.expires_at).where(
            ProLink.followup_item_id.in_(item_ids), ProLink.used_at.is_(None), ProLink.revoked_at.is_(None)
        )
    )
    return {item_id: LinkTimes(issued_at=at, expires_at=until) for item_id, at, until in rows if item_id}


def link_issue_times(session: Session, item_ids: list[int]) -> dict[int, datetime]:
    """When the link that answered each item was issued (answered items: its used link), by item id."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(ProLink.followup_item_id, ProLink.created_at).where(
            ProLink.followup_item_id.in_(item_ids), ProLink.used_at.is_not(None)
        )
    )
    return {item_id: at for item_id, at in rows if item_id}
