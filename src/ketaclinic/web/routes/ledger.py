"""The controlled-substance ledger's JSON API (/api/v1/ledger/...); its screens are ledger_*_screens.py."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ketaclinic.reports.ledger_csv import report_csv
from ketaclinic.services.ledger import (
    adjustments,
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
from ketaclinic.services.ledger.chain import LedgerReport as ChainReport
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.ledger.on_hand import BalanceOut
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


@router.get("/api/v1/ledger/products", response_model=list[catalogue.ProductOut], tags=TAGS)
def api_products(db: DbDep, principal: ViewApi, settings: SettingsDep) -> list[catalogue.ProductOut]:
    """The stocked products with their schedules in the clinic's jurisdiction."""
    return catalogue.list_products(db, principal.actor, config=settings)


@router.post("/api/v1/ledger/products", status_code=201, response_model=catalogue.ProductOut, tags=TAGS)
def api_add_product(
    body: catalogue.ProductIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> catalogue.ProductOut:
    """Add a product (NDC checked)."""
    return catalogue.add_product(db, principal.actor, body, config=settings)


@router.get("/api/v1/ledger/locations", response_model=list[catalogue.LocationOut], tags=TAGS)
def api_locations(db: DbDep, principal: ViewApi) -> list[catalogue.LocationOut]:
    """The storage locations."""
    return catalogue.list_locations(db, principal.actor)


@router.post("/api/v1/ledger/locations", status_code=201, response_model=catalogue.LocationOut, tags=TAGS)
def api_add_location(body: catalogue.LocationIn, db: DbDep, principal: ReceiveApi) -> catalogue.LocationOut:
    """Add a storage location."""
    return catalogue.add_location(db, principal.actor, body)


@router.post("/api/v1/ledger/receipts", status_code=201, response_model=receipts.ReceiptOut, tags=TAGS)
def api_receive(
    body: receipts.ReceiptIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> receipts.ReceiptOut:
    """Receive containers into a location."""
    return receipts.receive(db, principal.actor, body, config=settings)


@router.get("/api/v1/ledger/balances", response_model=list[BalanceOut], tags=TAGS)
def api_balances(db: DbDep, principal: ViewApi, settings: SettingsDep) -> list[BalanceOut]:
    """The running balance per product, lot and location."""
    return on_hand.balances(db, principal.actor, config=settings)


@router.get("/api/v1/ledger/containers", response_model=list[on_hand.ContainerOut], tags=TAGS)
def api_containers(db: DbDep, principal: ViewApi) -> list[on_hand.ContainerOut]:
    """The containers in stock (sealed or opened)."""
    return on_hand.containers_in_stock(db, principal.actor)


@router.post("/api/v1/ledger/returns", response_model=disposals.DisposalOut, tags=TAGS)
def api_return(body: disposals.ReturnIn, db: DbDep, principal: ReceiveApi) -> disposals.DisposalOut:
    """Return containers to a reverse distributor."""
    return disposals.return_stock(db, principal.actor, body)


@router.post("/api/v1/ledger/destructions", response_model=disposals.DisposalOut, tags=TAGS)
def api_destroy(
    body: disposals.DestroyIn, db: DbDep, principal: ReceiveApi, settings: SettingsDep
) -> disposals.DisposalOut:
    """Destroy containers on site, witnessed."""
    return disposals.destroy(db, principal.actor, body, config=settings)


@router.post("/api/v1/ledger/losses", response_model=disposals.DisposalOut, tags=TAGS)
def api_loss(body: disposals.LossIn, db: DbDep, principal: ReceiveApi) -> disposals.DisposalOut:
    """Record a loss or theft (DEA Form 106 facts)."""
    return disposals.report_loss(db, principal.actor, body)


@router.post("/api/v1/ledger/adjustments", status_code=201, tags=TAGS)
def api_adjust(body: adjustments.AdjustIn, db: DbDep, principal: AdjustApi) -> dict[str, int]:
    """Book a count difference on a balance."""
    return {"seq": adjustments.adjust(db, principal.actor, body)}


@router.post("/api/v1/ledger/corrections", status_code=201, tags=TAGS)
def api_correct(body: adjustments.CorrectionIn, db: DbDep, principal: AdjustApi) -> dict[str, int]:
    """Reverse a receipt entered in error or an adjustment."""
    return {"seq": adjustments.correct(db, principal.actor, body)}


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
    "/api/v1/ledger/sessions/{session_id}/waste", response_model=reconciling.ReconciliationOut, tags=TAGS
)
def api_waste(
    session_id: RecordId, body: waste.WasteIn, db: DbDep, principal: DispenseApi, settings: SettingsDep
) -> reconciling.ReconciliationOut:
    """Waste what is left in the bag (witnessed) and reconcile."""
    return waste.record_waste(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/ledger/sessions/{session_id}/doses",
    status_code=201,
    response_model=preparation.PreparationOut,
    tags=TAGS,
)
def api_dispense_dose(
    session_id: RecordId,
    body: doses.DoseDispenseIn,
    db: DbDep,
    principal: DispenseApi,
    settings: SettingsDep,
) -> preparation.PreparationOut:
    """Draw a charted controlled-drug dose (a midazolam rescue) from a container."""
    return doses.dispense_dose(db, principal.actor, session_id, body, config=settings)


@router.post(
    "/api/v1/ledger/sessions/{session_id}/acceptance", response_model=preparation.PreparationOut, tags=TAGS
)
def api_accept(
    session_id: RecordId, body: reconciling.AcceptIn, db: DbDep, principal: AdjustApi
) -> preparation.PreparationOut:
    """Accept a reconciliation outside the tolerance, with a reason."""
    return reconciling.accept_discrepancy(db, principal.actor, session_id, body)


@router.get(
    "/api/v1/ledger/sessions/{session_id}/reconciliation",
    response_model=reconciling.ReconciliationOut,
    tags=TAGS,
)
def api_reconciliation(
    session_id: RecordId, db: DbDep, principal: ViewApi, settings: SettingsDep
) -> reconciling.ReconciliationOut:
    """The session's reconciliation (prepared_mg, administered_mg, wasted_mg, discrepancy_mg)."""
    return reconciling.reconciliation(db, principal.actor, session_id, config=settings)


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
