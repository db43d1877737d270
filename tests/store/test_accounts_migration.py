"""Migration 0008: tokens issued before it expire 90 days after creation; no user must change a password."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import select

from ketaclinic.services import api_tokens
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from ketaclinic.store.tables.accounts import ApiToken, User


def test_existing_tokens_get_the_default_lifetime_and_users_carry_on(
    db: Database, staff: dict[str, Actor]
) -> None:
    info, secret = api_tokens.create_api_token(db, staff["nurse"], "old script", expires_in_days=365)
    command.downgrade(alembic_config(db.engine), "0007_registry")
    upgrade(db.engine)
    with db.read() as session:
        created, expires = session.execute(
            select(ApiToken.created_at, ApiToken.expires_at).where(ApiToken.id == info.id)
        ).one()
        forced = set(session.execute(select(User.must_change_password)).scalars())
    assert expires - created == timedelta(days=90)
    assert forced == {False}
    assert api_tokens.resolve_api_token(db, secret) == staff["nurse"]
