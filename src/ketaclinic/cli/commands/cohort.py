"""`ketaclinic cohort report` (a file, the clinic database or an imported cohort) and `cohort import`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaclinic.cli.output import emit_json, fail

if TYPE_CHECKING:
    from ketaclinic.outcomes.cohort_csv import CohortFileError

# The statistics stack (SciPy, statsmodels) is imported inside the commands: importing it here would
# add seconds to every `ketaclinic` call.

cohort_app = typer.Typer(
    help="Cohort analytics: responder rates, comparisons, Kaplan-Meier, safety.", no_args_is_help=True
)


def _row_errors(exc: CohortFileError) -> dict[str, list[dict[str, object]]]:
    return {"errors": [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]}


def _read_csv(path: Path, as_json: bool) -> Any:
    """Read a cohort file; with --json the full list of row errors also goes to stdout."""
    from ketaclinic.outcomes.cohort_csv import CohortFileError, read_cohort_csv

    try:
        return read_cohort_csv(path)
    except CohortFileError as exc:
        if as_json:
            emit_json(_row_errors(exc))
        raise


@cohort_app.command("report")
def report(
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Cohort CSV (see docs/cohort-csv.md); no database is used.")
    ] = None,
    definition: Annotated[
        str | None,
        typer.Option("--definition", help="valle2024 (the default), immpact30 or immpact50."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="FIELD:V1,V2[,...], FIELD diagnosis, mechanism or group."),
    ] = None,
    alternative: Annotated[
        str,
        typer.Option(
            "--alternative",
            help="Fisher's exact test: two-sided (the default), or one-sided greater / less (two groups).",
        ),
    ] = "two-sided",
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a printable HTML report to PATH.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Report title (HTML).")] = None,
    cohort_name: Annotated[
        str | None, typer.Option("--cohort", help="An imported cohort (cohort import) instead of the clinic.")
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL to read (sqlite:///PATH or postgresql+psycopg://...); "
            "default: the environment's (KETACLINIC_DATABASE_URL).",
        ),
    ] = None,
) -> None:
    """Analyse a cohort and print JSON or write an HTML report."""
    if as_json == (html is not None):
        fail("give exactly one of --json or --html PATH")
    if input_path is not None and cohort_name is not None:
        fail("give --input FILE or --cohort NAME, not both")
    if input_path is not None and db_url is not None:
        fail("give --input FILE or --db URL, not both")
    from ketaclinic.outcomes.analysis import analyse_cohort, parse_compare
    from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION, get_definition
    from ketaclinic.outcomes.stats import check_alternative

    definition = definition or DEFAULT_DEFINITION
    get_definition(definition)
    comparison = parse_compare(compare) if compare is not None else None
    check_alternative(alternative, None if comparison is None else len(comparison[1]))
    if input_path is None:
        from ketaclinic.cli.commands.foundation import open_database
        from ketaclinic.services.outcomes.cohort import cohort_report
        from ketaclinic.services.permissions import SYSTEM

        result = cohort_report(
            open_database(db_url),
            SYSTEM,
            source=cohort_name or "clinic",
            definition_id=definition,
            compare=comparison,
            alternative=alternative,
            export="json" if as_json else "html",
        )
        report_title = None
    else:
        cohort = _read_csv(input_path, as_json)
        result = analyse_cohort(cohort, definition_id=definition, compare=comparison, alternative=alternative)
        report_title = cohort.metadata.get("title")
    if as_json:
        emit_json(result)
        return
    from ketaclinic.reports.cohort import render_cohort_html  # Jinja2 only when an HTML report is wanted

    assert html is not None
    heading = title or str(report_title or "Cohort outcome report")
    try:
        html.write_text(render_cohort_html(result, title=heading), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {html}: {exc.strerror}")
    typer.echo(f"wrote {html}")


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
    from ketaclinic.services.outcomes.cohort import import_cohort
    from ketaclinic.services.permissions import SYSTEM

    cohort = _read_csv(path, as_json)
    info = import_cohort(open_database(), SYSTEM, cohort, name=name or path.stem)
    if as_json:
        emit_json({"name": info.name, "n": info.n, "synthetic": info.synthetic, "source": info.source})
        return
    flag = " (synthetic)" if info.synthetic else ""
    typer.echo(f"imported {info.n} patients as cohort {info.name!r}{flag}")


@cohort_app.command("export")
def export_aggregate(
    aggregate: Annotated[
        Path,
        typer.Option(
            "--aggregate", help="Write the site's aggregate counts (no patient rows) to FILE (JSON)."
        ),
    ],
    site: Annotated[str, typer.Option("--site", help="The site label the network knows this clinic by.")],
    definition: Annotated[
        str | None,
        typer.Option("--definition", help="valle2024 (the default), immpact30 or immpact50."),
    ] = None,
    min_cell: Annotated[
        int | None,
        typer.Option("--min-cell", help="Suppress counts from 1 to N - 1 (default: the local-policy 5)."),
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Cohort CSV (see docs/cohort-csv.md); no database is used.")
    ] = None,
    cohort_name: Annotated[
        str | None, typer.Option("--cohort", help="An imported cohort (cohort import) instead of the clinic.")
    ] = None,
) -> None:
    """Export the per-site sufficient statistics for `cohort pool` (small cells suppressed)."""
    import json

    from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION, get_definition

    if input_path is not None and cohort_name is not None:
        fail("give --input FILE or --cohort NAME, not both")
    definition = definition or DEFAULT_DEFINITION
    get_definition(definition)
    if input_path is None:
        from ketaclinic.cli.commands.foundation import open_database
        from ketaclinic.services.outcomes.cohort import cohort_aggregate
        from ketaclinic.services.permissions import SYSTEM

        result = cohort_aggregate(
            open_database(),
            SYSTEM,
            site=site,
            source=cohort_name or "clinic",
            definition_id=definition,
            min_cell=min_cell,
        )
    else:
        from ketaclinic.outcomes.aggregate_export import site_aggregate

        result = site_aggregate(
            _read_csv(input_path, False), site=site, definition_id=definition, min_cell=min_cell
        )
    try:
        aggregate.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {aggregate}: {exc.strerror}")
    hidden = len(result["suppression"]["cells"])
    typer.echo(f"wrote {aggregate}: site {result['site']!r}, {hidden} rows or cells suppressed")


def _p(value: float | None) -> str:
    return "not computed" if value is None else f"{value:.3g}"


@cohort_app.command("pool")
def pool(
    files: Annotated[list[Path], typer.Argument(help="Aggregate files from `cohort export --aggregate`.")],
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="FIELD:V1,V2[,...], FIELD diagnosis, mechanism or group."),
    ] = None,
    alternative: Annotated[
        str,
        typer.Option("--alternative", help="Fisher's exact test: two-sided (the default), greater or less."),
    ] = "two-sided",
    as_json: Annotated[bool, typer.Option("--json", help="Print the pooled analysis as JSON.")] = False,
) -> None:
    """Pool the sites' aggregate files: responder rates, exact comparison, Kaplan-Meier, log-rank."""
    import json

    from ketaclinic.outcomes.aggregate_pooling import pool_aggregates
    from ketaclinic.outcomes.analysis import parse_compare

    documents = []
    for path in files:
        try:
            documents.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            fail(f"{path}: not a JSON file")
    comparison = parse_compare(compare) if compare is not None else None
    result = pool_aggregates(documents, compare=comparison, alternative=alternative)
    if as_json:
        emit_json(result)
        return
    pooled, test = result["pooled"], result["comparison"]
    low, high = result["ci95"]
    medians = ", ".join(
        f"{group} {'not reached' if weeks is None else f'{weeks:g}'}"
        for group, weeks in result["relief_median_weeks"].items()
    )
    lines = [
        f"{len(pooled['sites'])} sites ({', '.join(pooled['sites'])}): {result['n']} patients, "
        f"{result['responders']} responders ({result['definition']['id']})",
        f"responder rate {result['responder_rate']:.3f} (95 % CI {low:.3f}-{high:.3f}, Wilson)"
        if result["n"]
        else "responder rate: no patients in the shown totals",
        f"{test['field']} comparison: "
        + (f"{test['method']}, p = {_p(test['p_value'])}" if test["method"] else test["message"]),
        f"relief median weeks: {medians}; log-rank p = {_p(result['relief']['logrank']['p_value'])}",
        pooled["message"],
    ]
    if result["synthetic"]:
        lines.insert(0, "SYNTHETIC DATA: a site's cohort is marked synthetic")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add the `cohort` command group."""
    app.add_typer(cohort_app, name="cohort")
