"""`ketaclinic outcomes end-series`: record when a course's series ended and schedule its follow-ups."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from ketaclinic.cli.output import emit_json
from ketaclinic.errors import InputError

outcomes_app = typer.Typer(help="Treatment courses and their follow-up.", no_args_is_help=True)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from None


@outcomes_app.command("end-series")
def end_series(
    course_id: Annotated[int, typer.Argument(help="The treatment course.")],
    on: Annotated[str, typer.Option("--date", help="Last session of the series (YYYY-MM-DD).")],
    version: Annotated[
        int,
        typer.Option(
            "--version",
            min=1,
            help="The course's version as last read (its `version`); a stale one changes nothing, exit 2.",
        ),
    ],
    session_date: Annotated[
        list[str] | None,
        typer.Option(
            "--session-date",
            help="A session day (YYYY-MM-DD), repeatable; default: the sessions charted for the course.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the course as JSON.")] = False,
) -> None:
    """Record the series end; follow-ups still open are rescheduled, answered ones stay.

    The course is edited only at the version given (--version, as the API or `--json` showed it).
    """
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.outcomes.courses import end_series as record
    from ketaclinic.services.permissions import SYSTEM

    series_end = _day(on, "series_end")
    sessions = None if session_date is None else [_day(d, "session_dates") for d in session_date]
    course = record(open_database(), SYSTEM, course_id, series_end, sessions, version=version)
    if as_json:
        emit_json(course)
        return
    open_items = [f for f in course.followups if f.status == "due"]
    typer.echo(
        f"course {course.id}: series ended {series_end.isoformat()}; "
        f"{len(open_items)} follow-ups open, {len(course.followups) - len(open_items)} answered"
    )
    for f in open_items:
        contact = (
            f"after session {f.session_number}"
            if f.kind == "after_session"
            else f"week {f.weeks_after_series} after series"
        )
        typer.echo(f"  {f.due_on.isoformat()}  {contact:<24} {','.join(f.instruments)}")


def register(app: typer.Typer) -> None:
    """Add the `outcomes` command group."""
    app.add_typer(outcomes_app, name="outcomes")
