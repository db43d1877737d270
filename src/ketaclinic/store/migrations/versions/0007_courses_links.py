"""courses and links: one live questionnaire link per follow-up item (issuing a new one revokes the earlier)

Revision ID: 0007_courses_links
Revises: 0007_cohort_measures
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0007_courses_links"
down_revision = "0007_cohort_measures"
branch_labels = None
# pro_links comes from the outcomes branch.
depends_on = "0005"

_LIVE = "revoked_at IS NULL AND used_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("pro_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revoked_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("revoked_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_pro_links_revoked_by_users", "users", ["revoked_by"], ["id"])
    # An older database may hold several unused links for one item: the newest stays live, the
    # earlier ones are revoked as a new issue would have revoked them.
    op.execute(
        "UPDATE pro_links SET revoked_at = created_at WHERE used_at IS NULL AND followup_item_id IS NOT NULL"
        " AND id < (SELECT MAX(newer.id) FROM pro_links AS newer"
        " WHERE newer.followup_item_id = pro_links.followup_item_id AND newer.used_at IS NULL)"
    )
    op.create_index(
        "uq_pro_links_one_live_per_item",
        "pro_links",
        ["followup_item_id"],
        unique=True,
        sqlite_where=sa.text(_LIVE),
        postgresql_where=sa.text(_LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_pro_links_one_live_per_item", table_name="pro_links")
    with op.batch_alter_table("pro_links", schema=None) as batch_op:
        batch_op.drop_constraint("fk_pro_links_revoked_by_users", type_="foreignkey")
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("revoked_at")
