"""screening: screenings, addenda, consents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc() -> ketaclinic.store.base.UTCDateTime:
    return ketaclinic.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "screenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("intake_version", sa.String(length=10), nullable=False),
        sa.Column("intake_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("rules_version", sa.String(length=40), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("signed_at", _utc(), nullable=True),
        sa.Column("signed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_screenings_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screenings")),
    )
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screenings_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_screenings_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_screenings_verdict"), ["verdict"], unique=False)

    op.create_table(
        "screening_addenda",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["screening_id"], ["screenings.id"], name=op.f("fk_screening_addenda_screening_id_screenings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_addenda")),
    )
    with op.batch_alter_table("screening_addenda", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screening_addenda_screening_id"), ["screening_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("template_json", sa.Text(), nullable=False),
        sa.Column("risks_json", sa.Text(), nullable=False),
        sa.Column("alternatives_json", sa.Text(), nullable=False),
        sa.Column("patient_signature", sa.String(length=200), nullable=False),
        sa.Column("patient_signed_at", _utc(), nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("physician", sa.String(length=64), nullable=False),
        sa.Column("physician_signed_at", _utc(), nullable=False),
        sa.Column("withdrawn_at", _utc(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_consents_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_protocol_id"), ["protocol_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_status"))
        batch_op.drop_index(batch_op.f("ix_consents_protocol_id"))
        batch_op.drop_index(batch_op.f("ix_consents_patient_id"))
    op.drop_table("consents")
    with op.batch_alter_table("screening_addenda", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screening_addenda_screening_id"))
    op.drop_table("screening_addenda")
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screenings_verdict"))
        batch_op.drop_index(batch_op.f("ix_screenings_status"))
        batch_op.drop_index(batch_op.f("ix_screenings_patient_id"))
    op.drop_table("screenings")
