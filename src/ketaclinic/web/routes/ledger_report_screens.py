"""The ledger's printable report of a period (/ledger/reports), with its CSV."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ketaclinic.errors import InputError
from ketaclinic.services.ledger import reports
from ketaclinic.web.deps import DbDep, SettingsDep, render
from ketaclinic.web.forms import blank
from ketaclinic.web.ledger_pages import ViewPage

router = APIRouter()


@router.get("/ledger/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(
    request: Request,
    db: DbDep,
    principal: ViewPage,
    settings: SettingsDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    drug: str | None = None,
) -> Response:
    """The printable report of a period (default: the last 30 days), with its CSV."""
    today = date.today()
    try:
        first = date.fromisoformat(start) if start else today - timedelta(days=30)
        last = date.fromisoformat(end) if end else today
        made = reports.ledger_report(db, principal.actor, first, last, drug=blank(drug), config=settings)
    except (ValueError, InputError) as exc:
        message = exc.message if isinstance(exc, InputError) else f"dates are YYYY-MM-DD ({exc})"
        return render(
            request,
            "ledger/report.html",
            status_code=422,
            report=None,
            error=message,
            start=start,
            end=end,
            drug=drug,
        )
    return render(
        request, "ledger/report.html", report=made, error=None, start=first, end=last, drug=drug or ""
    )
