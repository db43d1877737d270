"""accounts: forced password change, API token expiry, login back-off per (account, address)

Revision ID: 0008_accounts
Revises: 0007_registry
Create Date: 2026-12-04 02:10:00
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0008_accounts"
down_revision = "0007_registry"
branch_labels = None
depends_on = None

# Tokens issued before this revision had no expiry: they get the shipped default lifetime from their
# creation (local policy), so a long-forgotten script token stops answering instead of living forever.
EXISTING_TOKEN_DAYS = 90

_tokens = sa.table(
    "api_tokens",
    sa.column("id", sa.Integer()),
    sa.column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True)),
    sa.column("expires_at", ketaclinic.store.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of `users` would cascade-delete its sessions and tokens on SQLite.
    op.add_column(
        "users", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True)
        )
    connection = op.get_bind()
    for token_id, created_at in connection.execute(sa.select(_tokens.c.id, _tokens.c.created_at)).all():
        connection.execute(
            _tokens.update()
            .where(_tokens.c.id == token_id)
            .values(expires_at=created_at + timedelta(days=EXISTING_TOKEN_DAYS))
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False
        )
    # The old per-username counters are dropped, not carried over: a back-off in progress starts afresh.
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("known_account", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_key", "address", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_throttle_last_failed_at"), ["last_failed_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy: re-creating `users` would cascade-delete
    # every user's sessions and tokens through their foreign keys.
    op.drop_column("users", "must_change_password")
