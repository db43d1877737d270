"""Migration 0007 keeps the newest unused link of each follow-up item live and revokes the earlier ones."""

from __future__ import annotations

from datetime import date, timedelta

from alembic import command
from sqlalchemy import text

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from tests.services.test_outcomes_service import treated

_LINK = text(
    "INSERT INTO pro_links (token_sha256, patient_id, followup_item_id, instruments, created_at, expires_at,"
    " used_at) VALUES (:sha, :pid, :item, 'nrs', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :used)"
)


def test_older_links_of_one_item_are_revoked_but_the_newest(db: Database, staff: dict[str, Actor]) -> None:
    course = treated(db, staff["nurse"], "M1", 8, {}, series_end=date.today() - timedelta(days=8))
    first, second = course.followups[0].id, course.followups[1].id
    command.downgrade(alembic_config(db.engine), "0006_alert_escalation")
    rows = [("a", first, None), ("b", first, None), ("c", first, None), ("d", second, None)]
    with db.engine.begin() as connection:
        for sha, item, used in rows:
            connection.execute(_LINK, {"sha": sha * 64, "pid": course.patient_id, "item": item, "used": used})
    upgrade(db.engine)
    with db.engine.connect() as connection:
        live = {
            sha[0]: revoked is None
            for sha, revoked in connection.execute(text("SELECT token_sha256, revoked_at FROM pro_links"))
        }
    assert live == {"a": False, "b": False, "c": True, "d": True}
