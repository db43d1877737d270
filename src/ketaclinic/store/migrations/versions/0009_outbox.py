"""outbox: messages to patients claimed by a worker, and addresses refused for good

Revision ID: 0009_outbox
Revises: 0008_ledger
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0009_outbox"
down_revision = "0008_ledger"
branch_labels = None
depends_on = None


def _utc() -> ketaclinic.store.base.UTCDateTime:
    return ketaclinic.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unique_key", sa.String(length=120), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("opt_out_sha256", sa.String(length=64), nullable=True),
        sa.Column("opted_out_at", _utc(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("followup_item_id", sa.Integer(), nullable=True),
        sa.Column("pro_link_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_outbox_messages_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_outbox_messages_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["followup_item_id"],
            ["followup_items.id"],
            name=op.f("fk_outbox_messages_followup_item_id_followup_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pro_link_id"],
            ["pro_links.id"],
            name=op.f("fk_outbox_messages_pro_link_id_pro_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("unique_key", name=op.f("uq_outbox_messages_unique_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_messages_message_id")),
        sa.UniqueConstraint("opt_out_sha256", name=op.f("uq_outbox_messages_opt_out_sha256")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        for column in ("patient_id", "state", "appointment_id", "followup_item_id", "pro_link_id"):
            batch_op.create_index(batch_op.f(f"ix_outbox_messages_{column}"), [column], unique=False)
        batch_op.create_index("ix_outbox_messages_state_next_attempt_at", ["state", "next_attempt_at"])
    op.create_table(
        "undeliverable_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("failed_at", _utc(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_undeliverable_addresses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_undeliverable_addresses")),
        sa.UniqueConstraint(
            "patient_id", "channel", "address", name=op.f("uq_undeliverable_addresses_patient_id")
        ),
    )
    with op.batch_alter_table("undeliverable_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_undeliverable_addresses_patient_id"), ["patient_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("undeliverable_addresses")
    op.drop_table("outbox_messages")
