"""ledger: controlled-substance products, locations, receipts, containers, balances, the keyed append-only
entries, preparations for sessions and counts

Revision ID: 0008_ledger
Revises: 0008_scheduling
Create Date: 2026-12-04 02:02:29.470222
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0008_ledger"
down_revision = "0008_scheduling"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.create_table(
        "ledger_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_locations")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_locations_name")),
    )
    op.create_table(
        "ledger_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drug", sa.String(length=20), nullable=False),
        sa.Column("form", sa.String(length=30), nullable=False),
        sa.Column("strength_mg_ml", sa.Float(), nullable=False),
        sa.Column("container_ml", sa.Float(), nullable=False),
        sa.Column("ndc", sa.String(length=13), nullable=False),
        sa.Column("ndc11", sa.String(length=13), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_products")),
        sa.UniqueConstraint("ndc", name=op.f("uq_ledger_products_ndc")),
        sa.UniqueConstraint("ndc11", name=op.f("uq_ledger_products_ndc11")),
    )
    with op.batch_alter_table("ledger_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_products_drug"), ["drug"], unique=False)

    op.create_table(
        "ledger_balances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("balance_ul", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_balances_location_id_ledger_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["ledger_products.id"], name=op.f("fk_ledger_balances_product_id_ledger_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_balances")),
        sa.UniqueConstraint("product_id", "lot", "location_id", name=op.f("uq_ledger_balances_product_id")),
    )
    op.create_table(
        "ledger_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("counted_by", sa.String(length=64), nullable=False),
        sa.Column("second_counter", sa.String(length=64), nullable=False),
        sa.Column("counted_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines_json", sa.Text(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_counts_location_id_ledger_locations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_counts")),
    )
    with op.batch_alter_table("ledger_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_counts_counted_at"), ["counted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_counts_location_id"), ["location_id"], unique=False)

    op.create_table(
        "ledger_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("containers", sa.Integer(), nullable=False),
        sa.Column("supplier_name", sa.String(length=200), nullable=False),
        sa.Column("supplier_address", sa.Text(), nullable=False),
        sa.Column("supplier_registration", sa.String(length=9), nullable=False),
        sa.Column("invoice", sa.String(length=80), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_receipts_location_id_ledger_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["ledger_products.id"], name=op.f("fk_ledger_receipts_product_id_ledger_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_receipts")),
    )
    with op.batch_alter_table("ledger_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_receipts_product_id"), ["product_id"], unique=False)

    op.create_table(
        "ledger_containers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("remaining_ul", sa.Integer(), nullable=False),
        sa.Column("opened_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_containers_location_id_ledger_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["ledger_products.id"],
            name=op.f("fk_ledger_containers_product_id_ledger_products"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["ledger_receipts.id"],
            name=op.f("fk_ledger_containers_receipt_id_ledger_receipts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_containers")),
    )
    with op.batch_alter_table("ledger_containers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_containers_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_containers_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_containers_receipt_id"), ["receipt_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_containers_state"), ["state"], unique=False)

    op.create_table(
        "ledger_preparations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("medication_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("containers_json", sa.Text(), nullable=False),
        sa.Column("drawn_ul", sa.Integer(), nullable=False),
        sa.Column("prepared_mg", sa.Float(), nullable=False),
        sa.Column("diluent", sa.String(length=80), nullable=False),
        sa.Column("final_volume_ml", sa.Float(), nullable=False),
        sa.Column("concentration_mg_ml", sa.Float(), nullable=False),
        sa.Column("prepared_by", sa.String(length=64), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=True),
        sa.Column("prepared_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=15), nullable=False),
        sa.Column("administered_mg", sa.Float(), nullable=True),
        sa.Column("wasted_mg", sa.Float(), nullable=True),
        sa.Column("waste_method", sa.String(length=80), nullable=True),
        sa.Column("waste_witness", sa.String(length=64), nullable=True),
        sa.Column("discrepancy_mg", sa.Float(), nullable=True),
        sa.Column("tolerance_mg", sa.Float(), nullable=True),
        sa.Column("reconciled_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reconciled_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_preparations_location_id_ledger_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["medication_id"],
            ["session_medications.id"],
            name=op.f("fk_ledger_preparations_medication_id_session_medications"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["ledger_products.id"],
            name=op.f("fk_ledger_preparations_product_id_ledger_products"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_ledger_preparations_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_preparations")),
    )
    with op.batch_alter_table("ledger_preparations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_preparations_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_preparations_state"), ["state"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("occurred_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.Column("quantity_ul", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stock_delta_ul", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("balance_after_ul", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("preparation_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("witness", sa.String(length=64), nullable=True),
        sa.Column("reverses_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["ledger_containers.id"],
            name=op.f("fk_ledger_entries_container_id_ledger_containers"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["ledger_locations.id"],
            name=op.f("fk_ledger_entries_location_id_ledger_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_ledger_entries_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["preparation_id"],
            ["ledger_preparations.id"],
            name=op.f("fk_ledger_entries_preparation_id_ledger_preparations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["ledger_products.id"], name=op.f("fk_ledger_entries_product_id_ledger_products")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_ledger_entries_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_ledger_entries_hash")),
        sa.UniqueConstraint("reverses_seq", name=op.f("uq_ledger_entries_reverses_seq")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_session_id"), ["session_id"], unique=False)

    op.execute("INSERT INTO ledger_head (id, last_seq, last_hash) VALUES (1, 0, '" + "0" * 64 + "')")
    _make_entries_append_only()


def _make_entries_append_only() -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) of ledger entries, as for audit events."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_entries_no_{verb.lower()} BEFORE {verb} ON ledger_entries "
                "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"
            )
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION ledger_entries_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER ledger_entries_no_change BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse()"
    )
    op.execute(
        "CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refuse()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_change ON ledger_entries")
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON ledger_entries")
        op.execute("DROP FUNCTION IF EXISTS ledger_entries_refuse()")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_session_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_product_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_kind"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_preparations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_preparations_state"))
        batch_op.drop_index(batch_op.f("ix_ledger_preparations_session_id"))

    op.drop_table("ledger_preparations")
    with op.batch_alter_table("ledger_containers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_containers_state"))
        batch_op.drop_index(batch_op.f("ix_ledger_containers_receipt_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_containers_product_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_containers_location_id"))

    op.drop_table("ledger_containers")
    with op.batch_alter_table("ledger_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_receipts_product_id"))

    op.drop_table("ledger_receipts")
    with op.batch_alter_table("ledger_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_counts_location_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_counts_counted_at"))

    op.drop_table("ledger_counts")
    op.drop_table("ledger_balances")
    with op.batch_alter_table("ledger_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_products_drug"))

    op.drop_table("ledger_products")
    op.drop_table("ledger_locations")
    op.drop_table("ledger_head")
