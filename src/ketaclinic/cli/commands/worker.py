"""`ketaclinic worker [--once] [--poll-s N]`: deliver the outbox's messages (docs/messages.md)."""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="One pass (queue what is due, send it), then exit.")
    ] = False,
    poll_s: Annotated[
        float, typer.Option("--poll-s", min=1.0, max=3600.0, help="Seconds between passes (default 30).")
    ] = 30.0,
) -> None:
    """Queue the messages now due (reminders, questionnaire invitations) and send them, until stopped."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.messages.worker import PassReport, channels_for, run
    from ketaclinic.settings import load_settings

    settings = load_settings()
    channels = channels_for(settings)  # no KETACLINIC_SMTP_URL: one line, exit 2

    def say(report: PassReport) -> None:
        queued = sum(
            (
                report.scheduled.appointment_reminders,
                report.scheduled.questionnaire_invitations,
                report.scheduled.questionnaire_reminders,
            )
        )
        outcomes = ", ".join(f"{n} {what}" for what, n in sorted(report.outcomes.items())) or "nothing due"
        if once or queued or report.outcomes:
            typer.echo(f"worker: {queued} message(s) queued; {outcomes}")

    try:
        run(open_database(), settings, channels, poll_s=poll_s, once=once, on_pass=say)
    except KeyboardInterrupt:
        typer.echo("worker: stopped")


def register(app: typer.Typer) -> None:
    """Add the `worker` command."""
    app.command("worker")(worker)
