"""Alembic environment: the engine comes from `ketaclinic.store.migrate.alembic_config`."""

from __future__ import annotations

from alembic import context

from ketaclinic.store.base import Base
from ketaclinic.store.tables import load_all

load_all()
config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
