"""The Alembic migrations build exactly the schema the table classes describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ketaclinic.store.base import Base
from ketaclinic.store.db import Database
from ketaclinic.store.tables import load_all


def test_migrated_schema_matches_the_models(db: Database) -> None:
    load_all()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
