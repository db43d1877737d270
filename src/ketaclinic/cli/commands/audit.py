"""Verify the audit trail (chain, checkpoints, records) and anchor its head outside the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ketaclinic.cli.commands.foundation import open_database
from ketaclinic.settings import load_settings

if TYPE_CHECKING:  # SQLAlchemy loads when a command opens the database, not at start-up
    from ketaclinic.store.db import Database


def register(app: typer.Typer) -> None:
    """Add the audit commands."""
    audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def audit_verify(
        records: Annotated[
            bool, typer.Option("--records", help="Also check every audited record against its last event.")
        ] = False,
    ) -> None:
        """Prove the audit trail intact and held to every checkpoint, or name what breaks it (exit 1)."""
        from ketaclinic.services.audit import verify

        checkpoints = load_settings().audit_checkpoint_file
        database = open_database()
        report = verify(database, checkpoints)
        if not report.ok:
            typer.echo(f"broken: {report.problem} (first bad event: {report.first_bad_seq})", err=True)
            raise typer.Exit(1)
        if report.note:
            typer.echo(f"note: {report.note}")
        if report.checkpoints:
            typer.echo(f"ok: {report.events} events, {report.checkpoints} checkpoints in {checkpoints}")
        else:
            typer.echo(
                f"ok: {report.events} events; no checkpoint in {checkpoints} yet, so the chain is anchored"
                " only in the database (run `ketaclinic audit checkpoint`)"
            )
        if records:
            _verify_records(database)

    @audit_app.command("seal-unkeyed")
    def audit_seal_unkeyed() -> None:
        """Once, after an upgrade: seal the events written before the chain was keyed with the key."""
        from ketaclinic.services.audit import seal_unkeyed
        from ketaclinic.services.permissions import SYSTEM

        seq = seal_unkeyed(open_database(), SYSTEM)
        typer.echo(f"sealed: the events before the keyed chain are anchored by event {seq}")

    @audit_app.command("checkpoint")
    def audit_checkpoint() -> None:
        """Append the chain's head (event, HMAC, time, installation) to the checkpoint file."""
        from ketaclinic.services.audit import checkpoint

        path = load_settings().audit_checkpoint_file
        anchor = checkpoint(open_database(), path)
        typer.echo(f"checkpoint: event {anchor.seq} at {anchor.time} appended to {path}")


def _verify_records(database: Database) -> None:
    from ketaclinic.services.audit_records import check_records

    mismatches = check_records(database)
    if mismatches:
        for mismatch in mismatches:
            typer.echo(f"record differs: {mismatch}", err=True)
        raise typer.Exit(1)
    typer.echo("ok: every audited record reads as the audit trail last recorded it")
