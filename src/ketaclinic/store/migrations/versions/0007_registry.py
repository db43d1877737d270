"""registry: allergies, contact details and referring physician; who signed a consent and in what capacity

Revision ID: 0007_registry
Revises: 0007_record_versions
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0007_registry"
down_revision = "0007_record_versions"
branch_labels = None
# The consents table it alters is made by the screening revision, on its own branch.
depends_on = ("0002",)

PATIENT_COLUMNS = (
    ("no_known_allergies_at", ketaclinic.store.base.UTCDateTime(timezone=True)),
    ("no_known_allergies_by", sa.String(length=64)),
    ("contact_email", sa.String(length=254)),
    ("contact_phone", sa.String(length=32)),
    ("contact_address", sa.Text()),
    ("contact_channel", sa.String(length=10)),
    ("contact_consent", sa.Boolean()),
    ("contact_consent_on", sa.Date()),
    ("referrer_name", sa.String(length=200)),
    ("referrer_identifier", sa.String(length=64)),
    ("referrer_address", sa.Text()),
    ("referrer_email", sa.String(length=254)),
)


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        for name, kind in PATIENT_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    op.create_table(
        "patient_allergies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("substance", sa.String(length=200), nullable=False),
        sa.Column("substance_code", sa.String(length=64), nullable=True),
        sa.Column("reaction", sa.String(length=500), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("struck_out_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("struck_out_by", sa.String(length=64), nullable=True),
        sa.Column("strike_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient_allergies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_allergies_patient_id"), ["patient_id"], unique=False)
    with op.batch_alter_table("consents", schema=None) as batch_op:
        # Consents recorded before this revision were all signed by the patient.
        batch_op.add_column(
            sa.Column("signed_by", sa.String(length=20), nullable=False, server_default="patient")
        )
        batch_op.add_column(sa.Column("representative_relation", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("representative_relation_detail", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("representative_relation_detail")
        batch_op.drop_column("representative_relation")
        batch_op.drop_column("signed_by")
    with op.batch_alter_table("patient_allergies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_allergies_patient_id"))
    op.drop_table("patient_allergies")
    # Plain ALTER TABLE DROP COLUMN: a batch copy of patients would drop a table others refer to.
    for name, _kind in reversed(PATIENT_COLUMNS):
        op.drop_column("patients", name)
