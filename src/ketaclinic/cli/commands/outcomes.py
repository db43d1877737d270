"""`ketaclinic outcomes open-course | end-series`: open a treatment course; end it, scheduling follow-ups."""

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


@outcomes_app.command("open-course")
def open_course(
    patient_id: Annotated[int, typer.Argument(help="The patient.")],
    started: Annotated[str, typer.Option("--started", help="First day of the course (YYYY-MM-DD).")],
    plan_id: Annotated[int | None, typer.Option("--plan", help="The dose plan it carries out.")] = None,
    sessions: Annotated[int | None, typer.Option("--sessions", help="Sessions planned.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the course as JSON.")] = False,
) -> None:
    """Open a treatment course by hand (approving a plan opens one by itself)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.outcomes.courses import CourseIn, start_course
    from ketaclinic.services.permissions import SYSTEM

    data = CourseIn(started_on=_day(started, "started_on"), plan_id=plan_id, sessions_planned=sessions)
    course = start_course(open_database(), SYSTEM, patient_id, data)
    if as_json:
        emit_json(course)
        return
    typer.echo(f"course {course.id}: open since {course.started_on.isoformat()} for patient {patient_id}")


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
    reason: Annotated[str, typer.Option("--reason", help="Why the course ends now (audited).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the course as JSON.")] = False,
) -> None:
    """End a course: its series end and why; open follow-ups are rescheduled, answered ones stay.

    The course is edited only at the version given (--version, as the API or `--json` showed it).
    """
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.outcomes.courses import end_series as record
    from ketaclinic.services.permissions import SYSTEM

    series_end = _day(on, "series_end")
    sessions = None if session_date is None else [_day(d, "session_dates") for d in session_date]
    course = record(open_database(), SYSTEM, course_id, series_end, sessions, reason=reason, version=version)
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
