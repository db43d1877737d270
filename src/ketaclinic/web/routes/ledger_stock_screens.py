"""The stock page (/ledger): balances and containers, the chain's state, and its forms: receive a box, add a
product or a storage location, return, destroy or report lost the ticked containers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ketaclinic.services.ledger import catalogue, disposals, receipts
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, SettingsDep
from ketaclinic.web.forms import blank, text
from ketaclinic.web.ledger_pages import ReceivePage, ViewPage, stock_action, stock_page, witness_fields
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [NavItem("Stock", "/ledger", Permission.LEDGER_VIEW, order=45)]
RECEIPT_FIELDS = (
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
PRODUCT_FIELDS = ("drug", "strength_mg_ml", "container_ml", "ndc")


@router.get("/ledger", response_class=HTMLResponse, include_in_schema=False)
def stock_screen(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Balances by product, lot and location; receive, products and locations for those who may."""
    return stock_page(request, db, principal, settings)


@router.post("/ledger/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_submit(request: Request, db: DbDep, principal: ViewPage, settings: SettingsDep) -> Response:
    """Walk the whole ledger now (the page otherwise shows the last walk of the current head)."""
    verify_ledger(db)
    return stock_page(request, db, principal, settings)


@router.post("/ledger/receipts", response_class=HTMLResponse, include_in_schema=False)
async def receive_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Receive a box."""

    def step(form: FormData) -> object:
        data = receipts.ReceiptIn.model_validate({k: blank(form.get(k)) for k in RECEIPT_FIELDS})
        return receipts.receive(db, principal.actor, data, config=settings)

    return await stock_action(request, db, principal, settings, "receive-form", step)


@router.post("/ledger/products", response_class=HTMLResponse, include_in_schema=False)
async def product_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Add a product."""

    def step(form: FormData) -> object:
        data = catalogue.ProductIn.model_validate({k: blank(form.get(k)) for k in PRODUCT_FIELDS})
        return catalogue.add_product(db, principal.actor, data, config=settings)

    return await stock_action(request, db, principal, settings, "product-form", step)


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

    return await stock_action(request, db, principal, settings, "location-form", step)


def _disposal(form: FormData, **facts: Any) -> dict[str, Any]:
    """The ticked containers and the reason, with what this kind of disposal records."""
    return {"container_ids": form.getlist("container_ids"), "reason": text(form, "reason"), **facts}


@router.post("/ledger/returns", response_class=HTMLResponse, include_in_schema=False)
async def return_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Return the ticked containers to a reverse distributor."""

    def step(form: FormData) -> object:
        data = disposals.ReturnIn.model_validate(
            _disposal(
                form,
                reverse_distributor=text(form, "reverse_distributor"),
                reverse_distributor_registration=text(form, "reverse_distributor_registration"),
            )
        )
        return disposals.return_stock(db, principal.actor, data)

    return await stock_action(request, db, principal, settings, "dispose-form", step)


@router.post("/ledger/destructions", response_class=HTMLResponse, include_in_schema=False)
async def destroy_submit(
    request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep
) -> Response:
    """Destroy the ticked containers, witnessed."""

    def step(form: FormData) -> object:
        data = disposals.DestroyIn.model_validate(
            _disposal(form, method=text(form, "method"), **witness_fields(form))
        )
        return disposals.destroy(db, principal.actor, data, config=settings)

    return await stock_action(request, db, principal, settings, "dispose-form", step)


@router.post("/ledger/losses", response_class=HTMLResponse, include_in_schema=False)
async def loss_submit(request: Request, db: DbDep, principal: ReceivePage, settings: SettingsDep) -> Response:
    """Report the ticked containers lost or stolen (DEA Form 106 facts)."""

    def step(form: FormData) -> object:
        data = disposals.LossIn.model_validate(
            _disposal(
                form,
                loss_kind=text(form, "loss_kind"),
                discovered_on=blank(form.get("discovered_on")),
                police_notified=form.get("police_notified") == "yes",
                police_report=text(form, "police_report"),
                description=text(form, "description"),
            )
        )
        return disposals.report_loss(db, principal.actor, data)

    return await stock_action(request, db, principal, settings, "dispose-form", step)
