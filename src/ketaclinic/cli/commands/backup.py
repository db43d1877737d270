"""Back the database up to one file, and restore it from one (after which `audit verify` passes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ketaclinic.settings import load_settings

if TYPE_CHECKING:  # SQLAlchemy loads when a command opens the database, not at start-up
    pass


def register(app: typer.Typer) -> None:
    """Add backup and restore."""

    @app.command("backup")
    def backup_command(file: Annotated[Path, typer.Argument(help="The backup file to write (new).")]) -> None:
        """Write a consistent backup while the clinic keeps working (SQLite backup API, or pg_dump)."""
        from ketaclinic.cli.commands.foundation import open_database
        from ketaclinic.store.backup import backup

        database = open_database()
        backup(database, file)
        typer.echo(f"backup of the {database.dialect} database written to {file}")

    @app.command("restore")
    def restore_command(
        file: Annotated[Path, typer.Argument(help="A file written by `ketaclinic backup`.")],
        force: Annotated[
            bool, typer.Option("--force", help="Replace a database that already holds records.")
        ] = False,
    ) -> None:
        """Restore a backup into an empty database (a database in use only with --force)."""
        from ketaclinic.services.audit import verify
        from ketaclinic.store.backup import restore
        from ketaclinic.store.db import Database

        settings = load_settings()
        database = Database.for_settings(settings)
        restore(database, file, force=force)
        report = verify(Database.for_settings(settings), settings.audit_checkpoint_file)
        typer.echo(f"restored {file}; audit trail: {'ok' if report.ok else 'broken'}, {report.events} events")
        if not report.ok:
            typer.echo(f"broken: {report.problem} (first bad event: {report.first_bad_seq})", err=True)
            raise typer.Exit(1)
