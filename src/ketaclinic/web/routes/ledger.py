"""The controlled-substance ledger's JSON API (/api/v1/ledger/...); its screens are in ledger_screens.py."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ketaclinic.reports.ledger_csv import report_csv
from ketaclinic.services.ledger import counts, preparation, reports, stock
from ketaclinic.services.ledger.chain import LedgerReport as ChainReport
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.ledger.common import BalanceOut
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires
from ketaclinic.web.params import RecordId

router = APIRouter()
TAGS: list[str | Any] = ["ledger"]

ViewApi = Annotated[Principal, Depends(requires(Permission.LEDGER_VIEW))]
ReceiveApi = Annotated[Principal, Depends(requires(Permission.LEDGER_RECEIVE))]
AdjustApi = Annotated[Principal, Depends(requires(Permission.LEDGER_ADJUST))]
DispenseApi = Annotated[Principal, Depends(requires(Permission.LEDGER_DISPENSE))]
CountApi = Annotated[Principal, Depends(requires(Permission.LEDGER_COUNT))]


@router.get("/api/v1/ledger/products", response_model=list[stock.ProductOut], tags=TAGS)
def api_products(db: DbDep, principal: ViewApi, settings: SettingsDep) -> list[stock.ProductOut]:
    """The stocked products with their schedules in the clinic's jurisdiction."""
    return stock.list_products(db, principal.actor, config=settings)


@router.post("/api/v1/ledger/products", status_code=201, response_model=stock.ProductOut, tags=TAGS)
def api_add_product(
    body: stock.ProductIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> stock.ProductOut:
    """Add a product (NDC checked)."""
    return stock.add_product(db, principal.actor, body, config=settings)


@router.get("/api/v1/ledger/locations", response_model=list[stock.LocationOut], tags=TAGS)
def api_locations(db: DbDep, principal: ViewApi) -> list[stock.LocationOut]:
    """The storage locations."""
    return stock.list_locations(db, principal.actor)


@router.post("/api/v1/ledger/locations", status_code=201, response_model=stock.LocationOut, tags=TAGS)
def api_add_location(body: stock.LocationIn, db: DbDep, principal: ReceiveApi) -> stock.LocationOut:
    """Add a storage location."""
    return stock.add_location(db, principal.actor, body)


@router.post("/api/v1/ledger/receipts", status_code=201, response_model=stock.ReceiptOut, tags=TAGS)
def api_receive(
    body: stock.ReceiptIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> stock.ReceiptOut:
    """Receive containers into a location."""
    return stock.receive(db, principal.actor, body, config=settings)


@router.get("/api/v1/ledger/balances", response_model=list[BalanceOut], tags=TAGS)
def api_balances(db: DbDep, principal: ViewApi, settings: SettingsDep) -> list[BalanceOut]:
    """The running balance per product, lot and location."""
    return stock.balances(db, principal.actor, config=settings)


@router.get("/api/v1/ledger/containers", response_model=list[stock.ContainerOut], tags=TAGS)
def api_containers(db: DbDep, principal: ViewApi) -> list[stock.ContainerOut]:
    """The containers in stock (sealed or opened)."""
    return stock.containers_in_stock(db, principal.actor)


@router.post("/api/v1/ledger/returns", response_model=stock.DisposalOut, tags=TAGS)
def api_return(body: stock.ReturnIn, db: DbDep, principal: ReceiveApi) -> stock.DisposalOut:
    """Return containers to a reverse distributor."""
    return stock.return_stock(db, principal.actor, body)


@router.post("/api/v1/ledger/destructions", response_model=stock.DisposalOut, tags=TAGS)
def api_destroy(
    body: stock.DestroyIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> stock.DisposalOut:
    """Destroy containers on site, witnessed."""
    return stock.destroy(db, principal.actor, body, config=settings)


@router.post("/api/v1/ledger/losses", response_model=stock.DisposalOut, tags=TAGS)
def api_loss(body: stock.LossIn, db: DbDep, principal: ReceiveApi) -> stock.DisposalOut:
    """Record a loss or theft (DEA Form 106 facts)."""
    return stock.report_loss(db, principal.actor, body)


@router.post("/api/v1/ledger/adjustments", status_code=201, tags=TAGS)
def api_adjust(body: stock.AdjustIn, db: DbDep, principal: AdjustApi) -> dict[str, int]:
    """Book a count difference on a balance."""
    return {"seq": stock.adjust(db, principal.actor, body)}


@router.post("/api/v1/ledger/corrections", status_code=201, tags=TAGS)
def api_correct(body: stock.CorrectionIn, db: DbDep, principal: AdjustApi) -> dict[str, int]:
    """Reverse a receipt entered in error or an adjustment."""
    return {"seq": stock.correct(db, principal.actor, body)}


@router.post(
    "/api/v1/ledger/sessions/{session_id}/preparation",
    status_code=201,
    response_model=preparation.PreparationOut,
    tags=TAGS,
)
def api_prepare(
    session_id: RecordId,
    body: preparation.PreparationIn,
    db: DbDep,
    principal: DispenseApi,
    settings: SettingsDep,
) -> preparation.PreparationOut:
    """Prepare the session's bag (409 unless at the session's charted concentration)."""
    return preparation.prepare(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/ledger/sessions/{session_id}/waste", response_model=preparation.ReconciliationOut, tags=TAGS
)
def api_waste(
    session_id: RecordId, body: preparation.WasteIn, db: DbDep, principal: DispenseApi, settings: SettingsDep
) -> preparation.ReconciliationOut:
    """Waste what is left in the bag (witnessed) and reconcile."""
    return preparation.record_waste(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/ledger/sessions/{session_id}/doses",
    status_code=201,
    response_model=preparation.PreparationOut,
    tags=TAGS,
)
def api_dispense_dose(
    session_id: RecordId,
    body: preparation.DoseDispenseIn,
    db: DbDep,
    principal: DispenseApi,
    settings: SettingsDep,
) -> preparation.PreparationOut:
    """Draw a charted controlled-drug dose (a midazolam rescue) from a container."""
    return preparation.dispense_dose(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/ledger/sessions/{session_id}/acceptance", response_model=preparation.PreparationOut, tags=TAGS
)
def api_accept(
    session_id: RecordId, body: preparation.AcceptIn, db: DbDep, principal: AdjustApi
) -> preparation.PreparationOut:
    """Accept a reconciliation outside the tolerance, with a reason."""
    return preparation.accept_discrepancy(db, principal.actor, session_id, body)


@router.get(
    "/api/v1/ledger/sessions/{session_id}/reconciliation",
    response_model=preparation.ReconciliationOut,
    tags=TAGS,
)
def api_reconciliation(
    session_id: RecordId, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> preparation.ReconciliationOut:
    """The session's reconciliation (prepared_mg, administered_mg, wasted_mg, discrepancy_mg)."""
    return preparation.reconciliation(db, principal.actor, session_id, config=settings)


@router.post("/api/v1/ledger/counts", status_code=201, response_model=counts.CountOut, tags=TAGS)
def api_count(body: counts.CountIn, db: DbDep, principal: CountApi, settings: SettingsDep) -> counts.CountOut:
    """Record a two-person count."""
    return counts.record_count(db, principal.actor, body, config=settings)


@router.get("/api/v1/ledger/counts", response_model=list[counts.CountOut], tags=TAGS)
def api_counts(db: DbDep, principal: ViewApi, open_only: bool = False) -> list[counts.CountOut]:
    """Counts, newest first (`open_only`: differences not yet reviewed)."""
    return counts.list_counts(db, principal.actor, open_only=open_only)


@router.post("/api/v1/ledger/counts/{count_id}/review", response_model=counts.CountOut, tags=TAGS)
def api_review(count_id: RecordId, body: counts.ReviewIn, db: DbDep, principal: AdjustApi) -> counts.CountOut:
    """Close a count's differences with a note."""
    return counts.review_count(db, principal.actor, count_id, body)


@router.get("/api/v1/ledger/report", response_model=reports.LedgerReport, tags=TAGS)
def api_report(
    db: DbDep,
    principal: ViewApi,
    settings: SettingsDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    drug: str | None = None,
    format: str = "json",
) -> Any:
    """The dispensing record, reconciliations, discrepancies and inventory of a period (`format=csv`)."""
    made = reports.ledger_report(db, principal.actor, start, end, drug=drug, config=settings)
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="ledger-{start}-{end}.csv"'}
        return Response(report_csv(made), media_type="text/csv", headers=headers)
    return made


@router.get("/api/v1/ledger/verify", response_model=ChainReport, tags=TAGS)
def api_verify(db: DbDep, principal: ViewApi) -> ChainReport:
    """Check the ledger's chain and balances."""
    return verify_ledger(db)
