"""`ketaclinic schedule book | list | move | cancel | no-show`: a plan's series on the clinic's chairs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from ketaclinic.cli.output import emit_json
from ketaclinic.errors import InputError

schedule_app = typer.Typer(
    help="Appointments: a plan's series booked on chairs and nurses.", no_args_is_help=True
)
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Version = Annotated[int, typer.Option("--version", min=1, help="The appointment's version as last read.")]


def _day(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from None


def _when(text: str, field: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)", field=field) from None
    return at if at.tzinfo else at.astimezone()  # a time without a zone is the clinic's local time


def _line(a: Any) -> str:
    start, end = a.starts_at.astimezone(), a.ends_at.astimezone()
    return (
        f"{a.id:>5}  {start:%Y-%m-%d %a %H:%M}-{end:%H:%M}  {a.chair_name:<10} plan {a.plan_id} "
        f"session {a.session_number:<3} {a.status:<10} {a.patient_label}"
    )


def _settings() -> Any:
    from ketaclinic.settings import load_settings

    return load_settings()


@schedule_app.command("book")
def book(
    plan_id: Annotated[int, typer.Argument(help="The approved dose plan.")],
    from_day: Annotated[str | None, typer.Option("--from", help="Not before this day (YYYY-MM-DD).")] = None,
    as_json: JsonOut = False,
) -> None:
    """Book the plan's remaining sessions at the earliest feasible slots, all of them or none."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.services.scheduling.booking import BookSeriesIn, book_series

    data = BookSeriesIn(plan_id=plan_id, from_date=_day(from_day, "from"))
    booked = book_series(open_database(), SYSTEM, data, _settings())
    if as_json:
        emit_json({"appointments": booked})
        return
    typer.echo(f"plan {plan_id}: {len(booked)} appointment(s) booked")
    for a in booked:
        typer.echo(_line(a))


@schedule_app.command("list")
def list_(
    from_day: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default today.")
    ] = None,
    to_day: Annotated[
        str | None, typer.Option("--to", help="Last day (YYYY-MM-DD); default 4 weeks on.")
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """The appointments from one day to another, by start."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.services.scheduling.listing import list_appointments

    rows = list_appointments(
        open_database(), SYSTEM, _settings(), from_date=_day(from_day, "from"), to_date=_day(to_day, "to")
    )
    if as_json:
        emit_json({"appointments": rows})
        return
    for a in rows:
        typer.echo(_line(a))
    if not rows:
        typer.echo("no appointments")


@schedule_app.command("move")
def move(
    appointment_id: Annotated[int, typer.Argument(help="The appointment.")],
    to: Annotated[str, typer.Option("--to", help="New arrival time (YYYY-MM-DDTHH:MM, clinic time).")],
    version: Version,
    chair: Annotated[
        str | None, typer.Option("--chair", help="Chair id; default the first free one.")
    ] = None,
    shift_later: Annotated[bool, typer.Option("--shift-later", help="Move the later sessions too.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")] = "",
    as_json: JsonOut = False,
) -> None:
    """Move one appointment; with --shift-later the plan's later ones follow, keeping the interval."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.services.scheduling.changes import MoveIn
    from ketaclinic.services.scheduling.changes import move as do_move

    data = MoveIn(
        version=version, starts_at=_when(to, "to"), chair=chair, shift_later=shift_later, reason=reason
    )
    moved = do_move(open_database(), SYSTEM, appointment_id, data, _settings())
    if as_json:
        emit_json({"appointments": moved})
        return
    for a in moved:
        typer.echo(_line(a))


def _ending(command: str, help_text: str) -> None:
    @schedule_app.command(command, help=help_text)
    def end(
        appointment_id: Annotated[int, typer.Argument(help="The appointment.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (audited; required).")],
        version: Version,
        as_json: JsonOut = False,
    ) -> None:
        from ketaclinic.cli.commands.foundation import open_database
        from ketaclinic.services.permissions import SYSTEM
        from ketaclinic.services.scheduling import changes

        do = changes.cancel if command == "cancel" else changes.no_show
        row = do(
            open_database(),
            SYSTEM,
            appointment_id,
            changes.EndIn(version=version, reason=reason),
            _settings(),
        )
        if as_json:
            emit_json(row)
            return
        typer.echo(_line(row))


_ending("cancel", "Cancel an appointment, with the reason (its chair is free again).")
_ending("no-show", "Record that the patient did not come, with the reason (counted in the course's dropout).")


def register(app: typer.Typer) -> None:
    """Add the `schedule` command group."""
    app.add_typer(schedule_app, name="schedule")
