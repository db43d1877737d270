"""Alembic, driven from code: `upgrade(engine)` brings any database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every migration up to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def reset(engine: Engine) -> None:
    """Drop every table (wiping every row), then build the newest schema.

    Dropping rather than downgrading: a downgrade rebuilds tables that hold rows, which SQLite's
    foreign keys refuse once sessions reference them.
    """
    tables = MetaData()
    tables.reflect(bind=engine)
    tables.drop_all(bind=engine)
    command.upgrade(alembic_config(engine), "heads")


def current_heads(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (one per migration branch); empty when never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
