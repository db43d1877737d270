"""Test helpers for the idle logout: age every web session's last activity."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import WebSession


def idle_for(db: Database, minutes: float) -> None:
    """Make every web session's last activity `minutes` ago."""
    with db.transaction() as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=minutes)))


def last_seen(db: Database) -> list[object]:
    """Every web session's last activity."""
    with db.read() as session:
        return list(session.execute(select(WebSession.last_seen_at)).scalars())
