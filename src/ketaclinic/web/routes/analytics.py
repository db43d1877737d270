"""Cohort analytics: the dashboard on live data, the printable report, exports (audited) and cohort import."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from ketaclinic.errors import InputError
from ketaclinic.outcomes import CohortFileError, list_definitions, parse_compare, read_cohort_csv
from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION
from ketaclinic.outcomes.instruments import instrument_sources
from ketaclinic.reports.cohort import cohort_charts, render_cohort_html
from ketaclinic.services.outcomes import cohort as cohorts
from ketaclinic.services.permissions import Permission
from ketaclinic.services.scheduling.listing import clinic_no_shows
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.downloads import attachment_headers
from ketaclinic.web.nav import NavItem
from ketaclinic.web.problems import problem
from ketaclinic.web.security import csp_with_style_hashes

router = APIRouter()
NAV = [NavItem("Analytics", "/analytics", Permission.ANALYTICS_VIEW, order=60)]

ViewApi = Annotated[Principal, Depends(requires(Permission.ANALYTICS_VIEW))]
ViewPage = Annotated[Principal, Depends(requires(Permission.ANALYTICS_VIEW, page=True))]
ExportApi = Annotated[Principal, Depends(requires(Permission.EXPORT))]
ImportApi = Annotated[Principal, Depends(requires(Permission.COHORT_IMPORT))]
MAX_UPLOAD_BYTES = 5_000_000
# The dashboard opens on the published comparison: trigeminal neuralgia vs atypical facial pain.
DASHBOARD_COMPARE = "diagnosis:G50.0,G50.1"
DefinitionQ = Annotated[str, Query(max_length=20)]
CompareQ = Annotated[str | None, Query(max_length=200)]
CohortQ = Annotated[str, Query(max_length=100)]


def _compare(spec: str | None) -> tuple[str, list[str]] | None:
    return parse_compare(spec) if spec else None


def _csv(r: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["# synthetic", r["synthetic"]])
    writer.writerow(["# definition", r["definition"]["id"], r["definition"]["source"]])
    writer.writerow(
        ["breakdown", "group", "n", "responders", "rate", "ci95_low", "ci95_high", "missing_followup"]
    )
    overall = {
        "all": {
            "n": r["n"],
            "responders": r["responders"],
            "rate": r["responder_rate"],
            "ci95": r["ci95"],
            "missing_followup": r["missing_followup"],
        }
    }
    for name, groups in (
        ("overall", overall),
        ("diagnosis", r["by_diagnosis"]),
        ("mechanism", r["by_mechanism"]),
        ("diagnosis_group", r["by_diagnosis_group"]),
    ):
        for key, g in groups.items():
            writer.writerow(
                [name, key, g["n"], g["responders"], g["rate"], *g["ci95"], g["missing_followup"]]
            )
    return out.getvalue()


# --- API --------------------------------------------------------------------------------------------------


@router.get("/api/v1/analytics/cohort", tags=["analytics"])
def api_cohort(
    db: DbDep,
    principal: ViewApi,
    definition: DefinitionQ = DEFAULT_DEFINITION,
    compare: CompareQ = None,
    cohort: CohortQ = cohorts.CLINIC,
) -> dict[str, Any]:
    """The cohort analysis as JSON (like `ketaclinic cohort report --json`); audited as an export."""
    return cohorts.cohort_report(
        db, principal.actor, source=cohort, definition_id=definition, compare=_compare(compare), export="json"
    )


@router.get("/api/v1/cohorts", tags=["analytics"])
def api_cohorts(db: DbDep, principal: ViewApi) -> list[dict[str, Any]]:
    """The imported cohorts."""
    return [
        {
            "name": c.name,
            "n": c.n,
            "synthetic": c.synthetic,
            "source": c.source,
            "title": c.title,
            "imported_by": c.imported_by,
            "imported_at": c.imported_at.isoformat(),
        }
        for c in cohorts.list_cohorts(db, principal.actor)
    ]


@router.post("/api/v1/cohorts/import", status_code=201, tags=["analytics"], response_model=None)
async def api_import(
    db: DbDep,
    principal: ImportApi,
    file: Annotated[UploadFile, File()],
    name: Annotated[str | None, Form(max_length=100)] = None,
) -> dict[str, Any] | Response:
    """Import a cohort CSV (all or nothing); 422 lists every bad row and column."""
    raw = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise InputError(f"the file is larger than {MAX_UPLOAD_BYTES} bytes", field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text", field="file") from None
    if "\n" not in text:
        text += "\n"  # read_cohort_csv treats text without a newline as a path
    try:
        parsed = read_cohort_csv(text)
    except CohortFileError as exc:
        errors = [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]
        return problem(422, "Invalid cohort file", exc.message, field="file", errors=errors)
    default = (file.filename or "cohort").rsplit("/", 1)[-1].removesuffix(".csv")
    info = cohorts.import_cohort(db, principal.actor, parsed, name=name or default)
    return {"name": info.name, "n": info.n, "synthetic": info.synthetic, "source": info.source}


# --- screens ----------------------------------------------------------------------------------------------


@router.get("/analytics", response_class=HTMLResponse, include_in_schema=False)
def dashboard(
    request: Request,
    db: DbDep,
    principal: ViewPage,
    definition: DefinitionQ = DEFAULT_DEFINITION,
    compare: CompareQ = None,
    cohort: CohortQ = cohorts.CLINIC,
) -> Response:
    """The cohort dashboard: aggregates only (no names, MRNs, birth dates or free text for anyone)."""
    available = cohorts.list_cohorts(db, principal.actor)
    compare = compare or DASHBOARD_COMPARE
    context: dict[str, Any] = {
        "definitions": list_definitions(),
        "definition": definition,
        "compare": compare,
        "cohort": cohort,
        "cohorts": available,
        "query": urlencode({"cohort": cohort, "definition": definition, "compare": compare}),
        "instruments": instrument_sources(),
        "no_shows": clinic_no_shows(db, principal.actor) if cohort == cohorts.CLINIC else None,
    }
    try:
        r = cohorts.cohort_report(
            db, principal.actor, source=cohort, definition_id=definition, compare=_compare(compare)
        )
    except InputError as exc:
        return render(
            request,
            "analytics/dashboard.html",
            r=None,
            message=exc.message,
            **context,
            status_code=422 if exc.field != "cohort" else 200,
        )
    return render(request, "analytics/dashboard.html", r=r, charts=cohort_charts(r), message=None, **context)


@router.get("/analytics/report", response_class=HTMLResponse, include_in_schema=False)
def full_report(
    request: Request,
    db: DbDep,
    principal: ViewPage,
    definition: DefinitionQ = DEFAULT_DEFINITION,
    compare: CompareQ = None,
    cohort: CohortQ = cohorts.CLINIC,
) -> Response:
    """The full printable HTML report (audited as an export)."""
    r = cohorts.cohort_report(
        db, principal.actor, source=cohort, definition_id=definition, compare=_compare(compare), export="html"
    )
    title = "Clinic cohort outcome report" if cohort == cohorts.CLINIC else f"Cohort {cohort}: outcome report"
    if r["synthetic"]:
        title += " (SYNTHETIC DATA)"
    document = render_cohort_html(r, title=title)
    # The report is a standalone file (also written by the CLI) with its own style sheet inside.
    return HTMLResponse(document, headers={"Content-Security-Policy": csp_with_style_hashes(document)})


@router.get("/analytics/export.{fmt}", include_in_schema=False)
def export(
    fmt: str,
    db: DbDep,
    principal: ExportApi,
    definition: DefinitionQ = DEFAULT_DEFINITION,
    compare: CompareQ = None,
    cohort: CohortQ = cohorts.CLINIC,
) -> Response:
    """The analysis as a JSON document or the responder-rate tables as CSV (audited)."""
    if fmt not in ("json", "csv"):
        raise InputError("export format must be json or csv", field="fmt")
    r = cohorts.cohort_report(
        db, principal.actor, source=cohort, definition_id=definition, compare=_compare(compare), export=fmt
    )
    filename = f"cohort-{cohort}-{definition}.{fmt}"
    headers = attachment_headers(filename)
    if fmt == "json":
        return Response(json.dumps(r, indent=2), media_type="application/json", headers=headers)
    return Response(_csv(r), media_type="text/csv", headers=headers)
