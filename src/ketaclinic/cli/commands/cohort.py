"""`ketaclinic cohort report` (a file, the clinic database or an imported cohort) and `cohort import`."""

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


def _clinic_cohort(source: str) -> Cohort:
    """The clinic database cohort or an imported one, from the services layer (only when no --input)."""
    try:
        module = importlib.import_module(_SERVICE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _SERVICE_MODULE:
            raise
        fail("no --input given and the clinic database cohort is not available")
    loader = getattr(module, "load_clinic_cohort", None)
    if loader is None:
        fail("no --input given and the clinic database cohort is not available")
    cohort: Cohort = loader(source=source)
    return cohort


def _row_errors(exc: CohortFileError) -> dict[str, list[dict[str, object]]]:
    return {"errors": [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]}


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
    cohort_name: Annotated[
        str | None, typer.Option("--cohort", help="An imported cohort (cohort import) instead of the clinic.")
    ] = None,
) -> None:
    """Analyse a cohort and print JSON or write an HTML report."""
    if as_json == (html is not None):
        fail("give exactly one of --json or --html PATH")
    if input_path is not None and cohort_name is not None:
        fail("give --input FILE or --cohort NAME, not both")
    get_definition(definition)
    comparison = parse_compare(compare) if compare is not None else None
    if input_path is None:
        cohort = _clinic_cohort(cohort_name or "clinic")
        _audit_export(cohort_name or "clinic", "json" if as_json else "html", definition, cohort.n)
    else:
        try:
            cohort = read_cohort_csv(input_path)
        except CohortFileError as exc:
            if as_json:
                emit_json(_row_errors(exc))
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


def _audit_export(source: str, fmt: str, definition: str, count: int) -> None:
    """A report from the clinic database is an export: record it (as the system actor)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.audit import audit
    from ketaclinic.services.permissions import SYSTEM

    with open_database().transaction() as session:
        audit(
            session,
            SYSTEM,
            "export",
            "cohort",
            source,
            {
                "format": {"old": None, "new": fmt},
                "definition": {"old": None, "new": definition},
                "count": {"old": None, "new": count},
            },
        )


@cohort_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="Cohort CSV (see docs/cohort-csv.md).")],
    name: Annotated[str | None, typer.Option("--name", help="Cohort name (default: the file name).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result (or row errors) as JSON.")
    ] = False,
) -> None:
    """Load a retrospective cohort into the clinic database: every row or none (exit 2 on any bad row)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.cohort import import_cohort
    from ketaclinic.services.permissions import SYSTEM

    try:
        cohort = read_cohort_csv(path)
    except CohortFileError as exc:
        if as_json:
            emit_json(_row_errors(exc))
        raise
    info = import_cohort(open_database(), SYSTEM, cohort, name=name or path.stem)
    if as_json:
        emit_json({"name": info.name, "n": info.n, "synthetic": info.synthetic, "source": info.source})
        return
    flag = " (synthetic)" if info.synthetic else ""
    typer.echo(f"imported {info.n} patients as cohort {info.name!r}{flag}")


def register(app: typer.Typer) -> None:
    """Add the `cohort` command group."""
    app.add_typer(cohort_app, name="cohort")
