"""`ketaclinic fhir export|import`, `ketaclinic export redcap` and `ketaclinic letter`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli.output import emit_json, fail

fhir_app = typer.Typer(
    help="FHIR R4: bulk export (ndjson) and import of referred patients.", no_args_is_help=True
)
export_app = typer.Typer(help="Research hand-off files (REDCap, Parquet).", no_args_is_help=True)


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--since: {value!r} is not a date (YYYY-MM-DD)")


@fhir_app.command("export")
def fhir_export(
    directory: Annotated[Path, typer.Argument(help="A new or empty directory for the ndjson files.")],
    deidentified: Annotated[
        bool,
        typer.Option("--deidentified", help="HIPAA Safe Harbor: no names, MRNs or contact; dates shifted."),
    ] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only what happened on or after DATE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the files and counts as JSON.")] = False,
) -> None:
    """Write one ndjson file per resource type and manifest.json (the FHIR Bulk Data layout)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.interop.fhir_collection import ExportOptions
    from ketaclinic.services.interop.fhir_export import write_bulk_export
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.settings import load_settings

    options = ExportOptions(deidentified=deidentified, since=_since(since))
    written = write_bulk_export(
        open_database(), SYSTEM, directory, secret=load_settings().secret_key, options=options
    )
    if as_json:
        emit_json({"directory": str(written.directory), "counts": written.counts})
        return
    for resource_type, count in written.counts.items():
        typer.echo(f"{resource_type}.ndjson  {count}")
    typer.echo(f"wrote {written.directory}/manifest.json")


@fhir_app.command("import")
def fhir_import(
    path: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (JSON) or an ndjson file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the registered patients as JSON.")] = False,
) -> None:
    """Register referred patients with their conditions, weight and height (all of them, or none)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.errors import ManyInputsError
    from ketaclinic.interop.fhir_import import read_referrals
    from ketaclinic.services.interop.fhir_import import import_referrals
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.settings import load_settings

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    try:
        read = read_referrals(text)
        settings = load_settings()
        result = import_referrals(open_database(), SYSTEM, read, source=path.name, config=settings)
    except ManyInputsError as exc:
        fail(f"{len(exc.problems)} problems, nothing imported: " + "; ".join(str(p) for p in exc.problems))
    if as_json:
        emit_json({"patients": result.patients, "ignored": result.ignored})
        return
    for patient in result.patients:
        codes = ", ".join(d.code for d in patient.diagnoses) or "no diagnosis"
        typer.echo(f"registered {patient.mrn} {patient.family_name}, {patient.given_name} ({codes})")
    if result.ignored:
        passed = ", ".join(f"{count} {kind}" for kind, count in sorted(result.ignored.items()))
        typer.echo(f"not imported (not read by an import): {passed}")


@export_app.command("redcap")
def export_redcap(
    directory: Annotated[Path, typer.Argument(help="Where data_dictionary.csv and records.csv go.")],
    identified: Annotated[
        bool,
        typer.Option(
            "--identified", help="Add names, MRN and birth date (flagged as identifiers); dates unshifted."
        ),
    ] = False,
) -> None:
    """Write a REDCap data dictionary and the records it describes (de-identified unless --identified)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.interop.redcap_export import write_redcap_export
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.settings import load_settings

    written = write_redcap_export(
        open_database(), SYSTEM, directory, secret=load_settings().secret_key, identified=identified
    )
    typer.echo(
        f"wrote {written.dictionary} and {written.records} ({written.patients} records, {written.rows} rows)"
    )


@export_app.command("parquet")
def export_parquet(
    directory: Annotated[Path, typer.Argument(help="Where the .parquet files go.")],
) -> None:
    """Write the de-identified cohort tables (patient, course, session, pro) as Parquet."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.interop.parquet_export import write_parquet_snapshot
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.settings import load_settings

    written = write_parquet_snapshot(open_database(), SYSTEM, directory, secret=load_settings().secret_key)
    for table, path in written.files.items():
        typer.echo(f"{path}  {written.rows[table]} rows")


def letter(
    course_id: Annotated[int, typer.Argument(help="The treatment course the letter summarises.")],
    out: Annotated[Path, typer.Option("--out", help="The PDF (or .html for the print page) to write.")],
) -> None:
    """Write the course summary letter to the patient's referring physician."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.reports.letters import STYLESHEET, html_to_pdf, render_course_letter_html, stylesheet_text
    from ketaclinic.services.interop.letters import course_letter
    from ketaclinic.services.permissions import SYSTEM

    if out.suffix.lower() not in (".pdf", ".html"):
        fail(f"--out: {out.name} must end in .pdf or .html")
    as_pdf = out.suffix.lower() == ".pdf"
    written = course_letter(
        open_database(), SYSTEM, course_id, format_name="letter-pdf" if as_pdf else "letter-html"
    )
    html = render_course_letter_html(written, stylesheet_href=STYLESHEET)
    try:
        if as_pdf:
            out.write_bytes(html_to_pdf(html))
        else:
            out.write_text(html, encoding="utf-8")
            (out.parent / STYLESHEET).write_text(stylesheet_text(), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the interoperability commands."""
    app.add_typer(fhir_app, name="fhir")
    app.add_typer(export_app, name="export")
    app.command("letter")(letter)
