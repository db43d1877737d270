"""`ketaclinic cohort report`: analyse a retrospective cohort file (or, later, the clinic database)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli.output import emit_json, fail
from ketaclinic.outcomes.analysis import analyse_cohort, parse_compare
from ketaclinic.outcomes.cohort import Cohort, CohortFileError, read_cohort_csv
from ketaclinic.outcomes.definitions import get_definition

cohort_app = typer.Typer(
    help="Cohort analytics: responder rates, comparisons, Kaplan-Meier, safety.", no_args_is_help=True
)

_SERVICE_MODULE = "ketaclinic.services.cohort"


def _clinic_cohort() -> Cohort:
    """The clinic database cohort, from the services layer (imported only when no --input is given)."""
    try:
        module = importlib.import_module(_SERVICE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _SERVICE_MODULE:
            raise
        fail("no --input given and the clinic database cohort is not available")
    loader = getattr(module, "load_clinic_cohort", None)
    if loader is None:
        fail("no --input given and the clinic database cohort is not available")
    cohort: Cohort = loader()
    return cohort


@cohort_app.command("report")
def report(
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Cohort CSV (see docs/cohort-csv.md); no database is used.")
    ] = None,
    definition: Annotated[
        str, typer.Option("--definition", help="valle2024, immpact30 or immpact50.")
    ] = "valle2024",
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="FIELD:V1,V2[,...], FIELD diagnosis, mechanism or group."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a printable HTML report to PATH.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Report title (HTML).")] = None,
) -> None:
    """Analyse a cohort and print JSON or write an HTML report."""
    if as_json == (html is not None):
        fail("give exactly one of --json or --html PATH")
    get_definition(definition)
    comparison = parse_compare(compare) if compare is not None else None
    if input_path is None:
        cohort = _clinic_cohort()
    else:
        try:
            cohort = read_cohort_csv(input_path)
        except CohortFileError as exc:
            if as_json:
                emit_json(
                    {"errors": [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]}
                )
            raise
    result = analyse_cohort(cohort, definition_id=definition, compare=comparison)
    if as_json:
        emit_json(result)
        return
    from ketaclinic.reports.cohort import render_cohort_html  # Jinja2 only when an HTML report is wanted

    assert html is not None
    heading = title or str(cohort.metadata.get("title") or "Cohort outcome report")
    try:
        html.write_text(render_cohort_html(result, title=heading), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {html}: {exc.strerror}")
    typer.echo(f"wrote {html}")


def register(app: typer.Typer) -> None:
    """Add the `cohort` command group."""
    app.add_typer(cohort_app, name="cohort")
