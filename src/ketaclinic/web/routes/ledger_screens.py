"""The ledger's screens: the stock page (receive, balances), counts, reports, and the chart's preparation
and waste forms (/sessions/{id}/ledger/...)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.services.ledger import (
    catalogue,
    counts,
    disposals,
    doses,
    on_hand,
    preparation,
    receipts,
    reconciling,
    reports,
    waste,
)
from ketaclinic.services.ledger.chain import chain_status, verify_ledger
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import blank, error_line, form_errors, number, text
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId
from ketaclinic.web.session_page import act

router = APIRouter()
NAV = [NavItem("Stock", "/ledger", Permission.LEDGER_VIEW, order=45)]

ViewPage = Annotated[Principal, Depends(requires(Permission.LEDGER_VIEW, page=True))]
ReceivePage = Annotated[Principal, Depends(requires(Permission.LEDGER_RECEIVE, page=True))]
AdjustPage = Annotated[Principal, Depends(requires(Permission.LEDGER_ADJUST, page=True))]
DispensePage = Annotated[Principal, Depends(requires(Permission.LEDGER_DISPENSE, page=True))]
CountPage = Annotated[Principal, Depends(requires(Permission.LEDGER_COUNT, page=True))]
Refused = (ValidationError, InputError, ConflictError, NotFoundError)


# --- the chart's preparation and waste panel ----------------------------------------------------------


@router.post("/sessions/{session_id}/ledger/prepare", response_class=HTMLResponse, include_in_schema=False)
async def prepare_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: DispensePage, settings: SettingsDep
) -> Response:
    """Record the session's bag."""

    def step(form: FormData) -> object:
        data = preparation.PreparationIn.model_validate(
            {
                "container_ids": form.getlist("container_ids"),
                "volume_drawn_ml": number(form.get("volume_drawn_ml"), "volume_drawn_ml"),
                "final_volume_ml": number(form.get("final_volume_ml"), "final_volume_ml"),
                "diluent": text(form, "diluent") or "sodium chloride 0.9%",
                "checked_by": text(form, "checked_by"),
            }
        )
        return preparation.prepare(db, principal.actor, session_id, data, config=settings)

    return await act(request, db, principal, session_id, step, "prepare-form")


@router.post("/sessions/{session_id}/ledger/waste", response_class=HTMLResponse, include_in_schema=False)
async def waste_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: DispensePage, settings: SettingsDep
) -> Response:
    """Waste what is left in the bag, witnessed, and reconcile."""

    def step(form: FormData) -> object:
        data = waste.WasteIn.model_validate(
            {
                "residual_ml": number(form.get("residual_ml"), "residual_ml"),
                "method": text(form, "method"),
                "witness": text(form, "witness"),
                "witness_password": text(form, "witness_password"),
            }
        )
        return waste.record_waste(db, principal.actor, session_id, data, config=settings)

    return await act(request, db, principal, session_id, step, "waste-form")


@router.post("/sessions/{session_id}/ledger/dose", response_class=HTMLResponse, include_in_schema=False)
async def dose_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: DispensePage, settings: SettingsDep
) -> Response:
    """Dispense a charted midazolam dose from a container."""

    def step(form: FormData) -> object:
        data = doses.DoseDispenseIn.model_validate(
            {
                "medication_id": blank(form.get("medication_id")),
                "container_id": blank(form.get("container_id")),
                "volume_drawn_ml": number(form.get("volume_drawn_ml"), "volume_drawn_ml"),
                "witness": text(form, "witness"),
                "witness_password": text(form, "witness_password"),
            }
        )
        return doses.dispense_dose(db, principal.actor, session_id, data, config=settings)

    return await act(request, db, principal, session_id, step, "dose-form")


@router.post("/sessions/{session_id}/ledger/accept", response_class=HTMLResponse, include_in_schema=False)
async def accept_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: AdjustPage, settings: SettingsDep
) -> Response:
    """Accept a reconciliation outside the tolerance, with a reason."""

    def step(form: FormData) -> object:
        data = reconciling.AcceptIn.model_validate({"reason": text(form, "reason")})
        return reconciling.accept_discrepancy(db, principal.actor, session_id, data)

    if principal.can(Permission.SESSIONS_VIEW):
        return await act(request, db, principal, session_id, step, "accept-form")
    # An admin adjusts stock but does not read charts: a refusal comes back on the stock page.
    return await _stock_action(request, db, principal, settings, "accept-form", step)


# --- the stock page -------------------------------------------------------------------------------------


def _stock_page(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, **extra: Any
) -> Response:
    status = extra.pop("status_code", 200)
    products = catalogue.list_products(db, principal.actor, config=settings)
    return render(
        request,
        "ledger/stock.html",
        status_code=status,
        balances=on_hand.balances(db, principal.actor, config=settings),
        products=products,
        product_names={p.id: f"{p.drug} {p.strength_mg_ml:g} mg/mL" for p in products},
        locations=catalogue.list_locations(db, principal.actor),
        open_counts=counts.list_counts(db, principal.actor, open_only=True),
        chain=chain_status(db, principal.actor),
        containers=on_hand.containers_in_stock(db, principal.actor),
        typed=extra.pop("typed", {}),
        typed_form=extra.pop("typed_form", None),
        field_errors=extra.pop("field_errors", {}),
        error=extra.pop("error", None),
        **extra,
    )


@router.get("/ledger", response_class=HTMLResponse, include_in_schema=False)
def stock_page(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Balances by product, lot and location; receive, products and locations for those who may."""
    return _stock_page(request, db, principal, settings)


@router.post("/ledger/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_submit(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Walk the whole ledger now (the page otherwise shows the last walk of the current head)."""
    verify_ledger(db)
    return _stock_page(request, db, principal, settings)


async def _stock_action(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, form_id: str, step: Any
) -> Response:
    form = await request.form()
    try:
        step(form)
    except Refused as exc:
        return _stock_page(
            request,
            db,
            principal,
            settings,
            status_code=http_status(exc),
            error=error_line(exc),
            typed={k: str(v) for k, v in form.items() if k not in ("csrf_token",) and "password" not in k},
            typed_form=form_id,
            field_errors=form_errors(exc, top_level=True),
        )
    return RedirectResponse("/ledger", status_code=303)


@router.post("/ledger/receipts", response_class=HTMLResponse, include_in_schema=False)
async def receive_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Receive a box."""

    def step(form: FormData) -> object:
        fields = (
            "product_id",
            "location_id",
            "lot",
            "expiry",
            "containers",
            "supplier_name",
            "supplier_address",
            "supplier_registration",
            "invoice",
            "received_on",
        )
        data = receipts.ReceiptIn.model_validate({k: blank(form.get(k)) for k in fields})
        return receipts.receive(db, principal.actor, data, config=settings)

    return await _stock_action(request, db, principal, settings, "receive-form", step)


@router.post("/ledger/products", response_class=HTMLResponse, include_in_schema=False)
async def product_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Add a product."""

    def step(form: FormData) -> object:
        fields = ("drug", "strength_mg_ml", "container_ml", "ndc")
        data = catalogue.ProductIn.model_validate({k: blank(form.get(k)) for k in fields})
        return catalogue.add_product(db, principal.actor, data, config=settings)

    return await _stock_action(request, db, principal, settings, "product-form", step)


@router.post("/ledger/locations", response_class=HTMLResponse, include_in_schema=False)
async def location_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Add a storage location."""

    def step(form: FormData) -> object:
        data = catalogue.LocationIn.model_validate(
            {"name": text(form, "name"), "kind": text(form, "kind") or "safe"}
        )
        return catalogue.add_location(db, principal.actor, data)

    return await _stock_action(request, db, principal, settings, "location-form", step)


def _disposal(form: FormData) -> dict[str, Any]:
    return {"container_ids": form.getlist("container_ids"), "reason": text(form, "reason")}


@router.post("/ledger/returns", response_class=HTMLResponse, include_in_schema=False)
async def return_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Return the ticked containers to a reverse distributor."""

    def step(form: FormData) -> object:
        data = disposals.ReturnIn.model_validate(
            _disposal(form)
            | {
                "reverse_distributor": text(form, "reverse_distributor"),
                "reverse_distributor_registration": text(form, "reverse_distributor_registration"),
            }
        )
        return disposals.return_stock(db, principal.actor, data)

    return await _stock_action(request, db, principal, settings, "dispose-form", step)


@router.post("/ledger/destructions", response_class=HTMLResponse, include_in_schema=False)
async def destroy_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Destroy the ticked containers, witnessed."""

    def step(form: FormData) -> object:
        data = disposals.DestroyIn.model_validate(
            _disposal(form)
            | {
                "method": text(form, "method"),
                "witness": text(form, "witness"),
                "witness_password": text(form, "witness_password"),
            }
        )
        return disposals.destroy(db, principal.actor, data, config=settings)

    return await _stock_action(request, db, principal, settings, "dispose-form", step)


@router.post("/ledger/losses", response_class=HTMLResponse, include_in_schema=False)
async def loss_submit(request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep) -> Response:
    """Report the ticked containers lost or stolen (DEA Form 106 facts)."""

    def step(form: FormData) -> object:
        data = disposals.LossIn.model_validate(
            _disposal(form)
            | {
                "loss_kind": text(form, "loss_kind"),
                "discovered_on": blank(form.get("discovered_on")),
                "police_notified": form.get("police_notified") == "yes",
                "police_report": text(form, "police_report"),
                "description": text(form, "description"),
            }
        )
        return disposals.report_loss(db, principal.actor, data)

    return await _stock_action(request, db, principal, settings, "dispose-form", step)


# --- counts -------------------------------------------------------------------------------------------


def _counts_page(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, **extra: Any
) -> Response:
    status = extra.pop("status_code", 200)
    return render(
        request,
        "ledger/counts.html",
        status_code=status,
        balances=on_hand.balances(db, principal.actor, config=settings),
        locations=catalogue.list_locations(db, principal.actor),
        recent=counts.list_counts(db, principal.actor, limit=30),
        error=extra.pop("error", None),
        field_errors=extra.pop("field_errors", {}),
        **extra,
    )


@router.get("/ledger/counts", response_class=HTMLResponse, include_in_schema=False)
def counts_page(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Count the stock of a location with a second person; recent counts and their differences."""
    return _counts_page(request, db, principal, settings)


@router.post("/ledger/counts", response_class=HTMLResponse, include_in_schema=False)
async def count_submit(request: Request, db: DbDep, principal: CountPage, settings: SettingsDep) -> Response:
    """Record a two-person count (one line per balance of the location)."""
    form = await request.form()
    try:
        location_id = blank(form.get("location_id"))
        lines = []
        for key in form:
            if key.startswith("counted_"):
                product_id, _, lot = key.removeprefix("counted_").partition("__")
                lines.append(
                    {"product_id": product_id, "lot": lot, "counted_ml": number(form.get(key), "counted_ml")}
                )
        data = counts.CountIn.model_validate(
            {
                "location_id": location_id,
                "kind": text(form, "kind") or "daily",
                "lines": lines,
                "second_counter": text(form, "second_counter"),
                "second_counter_password": text(form, "second_counter_password"),
                "note": text(form, "note"),
            }
        )
        counts.record_count(db, principal.actor, data, config=settings)
    except Refused as exc:
        return _counts_page(
            request,
            db,
            principal,
            settings,
            status_code=http_status(exc),
            error=error_line(exc),
            field_errors=form_errors(exc, top_level=True),
        )
    return RedirectResponse("/ledger/counts", status_code=303)


@router.post("/ledger/counts/{count_id}/review", response_class=HTMLResponse, include_in_schema=False)
async def review_submit(
    request: Request, count_id: RecordId, db: DbDep, principal: AdjustPage, settings: SettingsDep
) -> Response:
    """Close a count's differences with a note."""
    form = await request.form()
    try:
        counts.review_count(
            db, principal.actor, count_id, counts.ReviewIn.model_validate({"note": text(form, "note")})
        )
    except Refused as exc:
        return _counts_page(
            request, db, principal, settings, status_code=http_status(exc), error=error_line(exc)
        )
    return RedirectResponse("/ledger/counts", status_code=303)


# --- reports --------------------------------------------------------------------------------------------


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
