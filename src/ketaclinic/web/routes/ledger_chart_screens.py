"""The chart's ledger panel (/sessions/{id}/ledger/...): the bag prepared, its waste, a charted dose
dispensed, and a discrepancy accepted."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ketaclinic.services.ledger import doses, preparation, reconciling, waste
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, SettingsDep
from ketaclinic.web.forms import blank, number, text
from ketaclinic.web.ledger_pages import AdjustPage, DispensePage, stock_action, witness_fields
from ketaclinic.web.params import RecordId
from ketaclinic.web.session_page import act

router = APIRouter()


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
                **witness_fields(form),
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
                **witness_fields(form),
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
    return await stock_action(request, db, principal, settings, "accept-form", step)
