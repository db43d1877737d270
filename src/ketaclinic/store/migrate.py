"""Alembic, driven from code: `upgrade(engine)` brings any database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
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
    """Downgrade to an empty schema, then upgrade to the newest (wipes every row)."""
    config = alembic_config(engine)
    command.downgrade(config, "base")
    command.upgrade(config, "heads")


def current_heads(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (one per migration branch); empty when never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
