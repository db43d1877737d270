"""`ketaclinic alerts check`: the periodic check (alerts due with time, re-notification of critical ones)."""

from __future__ import annotations

from typing import Annotated

import typer

from ketaclinic.cli.commands.foundation import open_database
from ketaclinic.cli.output import emit_json
from ketaclinic.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add the alerts commands."""
    alerts_app = typer.Typer(help="Clinic-wide alerts.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("check")
    def check(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        """Raise what came due in running sessions; re-notify unacknowledged critical alerts, once (cron)."""
        from ketaclinic.services.sessions.clinic_alerts import check_clinic

        made = check_clinic(open_database(), config=load_settings())
        if json_out:
            emit_json({"renotified_alert_ids": made})
            return
        typer.echo(f"re-notified {len(made)} critical alert(s) left unacknowledged")
