"""The counts page (/ledger/counts): a two-person count of a location, and a count's differences reviewed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ketaclinic.services.ledger import counts
from ketaclinic.web.deps import DbDep, SettingsDep
from ketaclinic.web.forms import blank, number, text
from ketaclinic.web.ledger_pages import AdjustPage, CountPage, ViewPage, counts_action, counts_page
from ketaclinic.web.params import RecordId

router = APIRouter()
COUNTED = "counted_"  # a line's field is counted_<product id>__<lot>


def _count_lines(form: FormData) -> list[dict[str, Any]]:
    """One line per counted field of the form: the product, the lot and the mL found."""
    lines = []
    for key in form:
        if key.startswith(COUNTED):
            product_id, _, lot = key.removeprefix(COUNTED).partition("__")
            lines.append(
                {"product_id": product_id, "lot": lot, "counted_ml": number(form.get(key), "counted_ml")}
            )
    return lines


@router.get("/ledger/counts", response_class=HTMLResponse, include_in_schema=False)
def counts_screen(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Count the stock of a location with a second person; recent counts and their differences."""
    return counts_page(request, db, principal, settings)


@router.post("/ledger/counts", response_class=HTMLResponse, include_in_schema=False)
async def count_submit(request: Request, db: DbDep, principal: CountPage, settings: SettingsDep) -> Response:
    """Record a two-person count (one line per balance of the location)."""

    def step(form: FormData) -> object:
        location_id = blank(form.get("location_id"))
        data = counts.CountIn.model_validate(
            {
                "location_id": location_id,
                "kind": text(form, "kind") or "daily",
                "lines": _count_lines(form),
                "second_counter": text(form, "second_counter"),
                "second_counter_password": text(form, "second_counter_password"),
                "note": text(form, "note"),
            }
        )
        return counts.record_count(db, principal.actor, data, config=settings)

    return await counts_action(request, db, principal, settings, step)


@router.post("/ledger/counts/{count_id}/review", response_class=HTMLResponse, include_in_schema=False)
async def review_submit(
    request: Request, count_id: RecordId, db: DbDep, principal: AdjustPage, settings: SettingsDep
) -> Response:
    """Close a count's differences with a note."""

    def step(form: FormData) -> object:
        data = counts.ReviewIn.model_validate({"note": text(form, "note")})
        return counts.review_count(db, principal.actor, count_id, data)

    return await counts_action(request, db, principal, settings, step)
