"""Dose plans: the plan API and the plan screens (the library, protocols and dose check: reference.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ketaclinic.dosing.choices import CHOICE_LABELS, CHOICE_UNITS, choosable
from ketaclinic.errors import ConflictError, InputError, NotFoundError, StaleVersionError, http_status
from ketaclinic.pharmacology import list_models
from ketaclinic.reports.time_charts import concentration_chart
from ketaclinic.services import pk
from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import Permission
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans.records import STATUS_LABELS, PlanOut, PlanSummary, list_plans, view_plan
from ketaclinic.services.reference import clinic_library
from ketaclinic.settings import Settings
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import StaleNote, blank, error_lines, stale_notes
from ketaclinic.web.nav import NavItem
from ketaclinic.web.params import RecordId, RecordIdQuery

router = APIRouter()
NAV = [NavItem("Dose plans", "/plans", Permission.PLANS_VIEW, order=30)]

ViewApi = Annotated[Principal, Depends(requires(Permission.PLANS_VIEW))]
CreateApi = Annotated[Principal, Depends(requires(Permission.PLANS_CREATE))]
ApproveApi = Annotated[Principal, Depends(requires(Permission.PLANS_APPROVE))]
CosignApi = Annotated[Principal, Depends(requires(Permission.PLANS_COSIGN))]
ViewPage = Annotated[Principal, Depends(requires(Permission.PLANS_VIEW, page=True))]
CreatePage = Annotated[Principal, Depends(requires(Permission.PLANS_CREATE, page=True))]
ApprovePage = Annotated[Principal, Depends(requires(Permission.PLANS_APPROVE, page=True))]
CosignPage = Annotated[Principal, Depends(requires(Permission.PLANS_COSIGN, page=True))]


# --- plans API -------------------------------------------------------------------------------------


@router.post(
    "/api/v1/patients/{patient_id}/plans",
    status_code=201,
    response_model=PlanOut,
    tags=["plans"],
)
def api_create(
    patient_id: RecordId, body: plans.PlanCreate, db: DbDep, settings: SettingsDep, principal: CreateApi
) -> PlanOut:
    """Compute, check and store a draft plan (422 naming the limit and source on a hard breach)."""
    return plans.create_plan(db, principal.actor, patient_id, body, config=settings)


@router.get("/api/v1/patients/{patient_id}/plans", response_model=list[PlanSummary], tags=["plans"])
def api_patient_plans(patient_id: RecordId, db: DbDep, principal: ViewApi) -> list[PlanSummary]:
    """A patient's plans, newest first."""
    return list_plans(db, principal.actor, patient_id=patient_id)


@router.get("/api/v1/plans/{plan_id}", response_model=PlanOut, tags=["plans"])
def api_plan(plan_id: RecordId, db: DbDep, principal: ViewApi) -> PlanOut:
    """One plan (audited view)."""
    return view_plan(db, principal.actor, plan_id)


@router.post("/api/v1/plans/{plan_id}/soft-reasons", response_model=PlanOut, tags=["plans"])
def api_soft_reasons(
    plan_id: RecordId, body: plans.SoftReasonsIn, db: DbDep, principal: CreateApi
) -> PlanOut:
    """Give the reason for overriding soft-limit breaches (by index in soft_breaches)."""
    return plans.give_soft_reasons(db, principal.actor, plan_id, body)


@router.post("/api/v1/plans/{plan_id}/approve", response_model=PlanOut, tags=["plans"])
def api_approve(plan_id: RecordId, db: DbDep, principal: ApproveApi, settings: SettingsDep) -> PlanOut:
    """Approve (409 when today's library changes the plan, or listing missing reasons or prerequisites)."""
    return plans.approve_plan(db, principal.actor, plan_id, config=settings)


@router.post("/api/v1/plans/{plan_id}/cosign", response_model=PlanOut, tags=["plans"])
def api_cosign(plan_id: RecordId, db: DbDep, principal: CosignApi) -> PlanOut:
    """Co-sign a plan with soft overrides (a second clinician, not the approver)."""
    return plans.cosign_plan(db, principal.actor, plan_id)


@router.post("/api/v1/plans/{plan_id}/cancel", response_model=PlanOut, tags=["plans"])
def api_cancel(plan_id: RecordId, body: plans.CancelIn, db: DbDep, principal: CreateApi) -> PlanOut:
    """Cancel a plan with a reason."""
    return plans.cancel_plan(db, principal.actor, plan_id, body)


# --- screens ---------------------------------------------------------------------------------------


def _session_chart(session: dict[str, Any], title: str) -> str:
    prediction = session.get("prediction")
    if not prediction:
        return ""
    curve = prediction["curve"]
    series: dict[str, Any] = {"Cp (plasma)": curve["cp_ng_ml"]}
    if curve.get("ce_ng_ml"):
        series["Ce (effect site)"] = curve["ce_ng_ml"]
    end = session["segments"][-1]["end_min"]
    return concentration_chart(
        curve["t_min"], series, bands=pk.chart_bands(), title=title, markers=[(end, "infusion ends")]
    )


@router.get("/plans", response_class=HTMLResponse, include_in_schema=False)
def list_page(
    request: Request,
    db: DbDep,
    principal: ViewPage,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Plans: drafts, awaiting co-signature, approved (and cancelled on request)."""
    statuses = (status,) if status else ("draft", "awaiting_cosign", "approved")
    items = list_plans(db, principal.actor, statuses=statuses)
    choices: list[Any] = []
    if principal.can(Permission.PLANS_CREATE):
        choices, _total = registry.list_patients(db, principal.actor, limit=500)
    return render(
        request,
        "plans/list.html",
        items=items,
        status=status,
        labels=STATUS_LABELS,
        choices=choices,
    )


@router.get("/plans/new", response_class=HTMLResponse, include_in_schema=False)
def new_redirect(patient_id: RecordIdQuery, principal: CreatePage) -> Response:
    """The patient chooser on the list page lands on that patient's plan builder."""
    return RedirectResponse(f"/patients/{patient_id}/plans/new", status_code=303)


def _builder_values(form: Any) -> dict[str, Any]:
    values = {k: (str(form.get(k)).strip() if form.get(k) is not None else "") for k in _BUILDER_FIELDS}
    values = {k: v for k, v in values.items() if v}
    # Only the chosen protocol's choices count: a value typed for another protocol is not sent.
    prefix = f"choice.{values.get('protocol_id', '')}."
    chosen = {
        name.removeprefix(prefix): str(raw).strip()
        for name, raw in form.items()
        if name.startswith(prefix) and str(raw).strip()
    }
    return values | ({"choices": chosen} if chosen else {})


_BUILDER_FIELDS = (
    "protocol_id",
    "dosing_weight",
    "weight_kg",
    "concentration_mg_ml",
    "volume_ml",
    "start_date",
    "model_key",
    "weight_reason",
)


def _builder(
    request: Request,
    db: DbDep,
    principal: Principal,
    settings: Any,
    patient_id: int,
    values: dict[str, Any],
    errors: list[str],
    status_code: int = 200,
) -> Response:
    patient = registry.view_patient(db, principal.actor, patient_id)
    reference = clinic_library(settings)
    existing = list_plans(db, principal.actor, patient_id=patient_id)
    return render(
        request,
        "plans/builder.html",
        status_code=status_code,
        patient=patient,
        protocols=list(reference.protocols.values()),
        choosable={p.id: choosable(p) for p in reference.protocols.values() if choosable(p)},
        units=CHOICE_UNITS,
        labels=CHOICE_LABELS,
        models=list_models(),
        values=values,
        errors=errors,
        existing=existing,
    )


@router.get("/patients/{patient_id}/plans/new", response_class=HTMLResponse, include_in_schema=False)
def builder_page(
    request: Request, patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: CreatePage
) -> Response:
    """The plan builder: the patient's weight from the registry, protocol, concentration, model."""
    return _builder(request, db, principal, settings, patient_id, {}, [])


@router.post("/patients/{patient_id}/plans/new", response_class=HTMLResponse, include_in_schema=False)
async def builder_submit(
    request: Request, patient_id: RecordId, db: DbDep, settings: SettingsDep, principal: CreatePage
) -> Response:
    """Compute and store a draft; a hard breach or bad input comes back on the form."""
    values = _builder_values(await request.form())
    try:
        created = plans.create_plan(
            db, principal.actor, patient_id, plans.PlanCreate.model_validate(values), config=settings
        )
    except (ValidationError, InputError, NotFoundError) as exc:
        # An unknown protocol or model chosen on the form is bad input to the form: 422, not 404.
        return _builder(request, db, principal, settings, patient_id, values, error_lines(exc), 422)
    return RedirectResponse(f"/plans/{created.id}", status_code=303)


@router.get("/plans/{plan_id}", response_class=HTMLResponse, include_in_schema=False)
def detail_page(request: Request, plan_id: RecordId, db: DbDep, principal: ViewPage) -> Response:
    """A plan: schedule, Cp/Ce per session against the bands, every check, overrides and signatures."""
    plan = view_plan(db, principal.actor, plan_id)
    return _detail(request, plan, [])


def _detail(
    request: Request,
    plan: PlanOut,
    errors: list[str],
    status_code: int = 200,
    *,
    typed: dict[str, str] | None = None,
    stale: dict[str, StaleNote] | None = None,
) -> Response:
    charts: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for s in plan.plan["sessions"]:
        key = repr(s["segments"])
        if key in seen:  # the same regimen predicts the same curve: show it once
            charts.append({"same_as": seen[key], "svg": ""})
            continue
        seen[key] = s["number"]
        title = f"Session {s['number']}: predicted Cp and Ce ({plan.model_key})"
        charts.append({"same_as": None, "svg": _session_chart(s, title)})
    return render(
        request,
        "plans/detail.html",
        status_code=status_code,
        plan=plan,
        doc=plan.plan,
        charts=charts,
        bands=pk.chart_bands(),
        errors=errors,
        typed=typed or {},
        stale=stale or {},
    )


async def _action(
    request: Request,
    db: DbDep,
    principal: Principal,
    plan_id: int,
    action: str,
    settings: Settings | None = None,
) -> Response:
    form = await request.form()
    try:
        if action == "reasons":
            reasons = [
                {"check": key.removeprefix("reason_"), "reason": str(value)}
                for key, value in form.items()
                if key.startswith("reason_") and str(value).strip()
            ]  # the index stays text: SoftReasonIn's validation refuses a non-number (422, not 500)
            if not reasons:
                raise InputError("enter a reason for at least one soft-limit breach", field="reasons")
            plans.give_soft_reasons(
                db,
                principal.actor,
                plan_id,
                plans.SoftReasonsIn.model_validate(
                    {"reasons": reasons, "version": blank(form.get("version"))}
                ),
            )
        elif action == "approve":
            plans.approve_plan(db, principal.actor, plan_id, config=settings)
        elif action == "cosign":
            plans.cosign_plan(db, principal.actor, plan_id)
        else:
            plans.cancel_plan(
                db,
                principal.actor,
                plan_id,
                plans.CancelIn.model_validate({"reason": form.get("reason", "")}),
            )
    except StaleVersionError as exc:
        # Nothing saved: the typed reasons come back beside the ones now stored (who, when).
        plan = view_plan(db, principal.actor, plan_id)
        typed = {key: str(value) for key, value in form.items() if key.startswith("reason_")}
        return _detail(request, plan, [], http_status(exc), typed=typed, stale=stale_notes(exc))
    except (ValidationError, InputError, ConflictError) as exc:
        plan = view_plan(db, principal.actor, plan_id)
        return _detail(request, plan, error_lines(exc), http_status(exc))
    return RedirectResponse(f"/plans/{plan_id}", status_code=303)


@router.post("/plans/{plan_id}/soft-reasons", response_class=HTMLResponse, include_in_schema=False)
async def reasons_submit(request: Request, plan_id: RecordId, db: DbDep, principal: CreatePage) -> Response:
    """Save soft-override reasons."""
    return await _action(request, db, principal, plan_id, "reasons")


@router.post("/plans/{plan_id}/approve", response_class=HTMLResponse, include_in_schema=False)
async def approve_submit(
    request: Request, plan_id: RecordId, db: DbDep, principal: ApprovePage, settings: SettingsDep
) -> Response:
    """Approve from the plan page."""
    return await _action(request, db, principal, plan_id, "approve", settings)


@router.post("/plans/{plan_id}/cosign", response_class=HTMLResponse, include_in_schema=False)
async def cosign_submit(request: Request, plan_id: RecordId, db: DbDep, principal: CosignPage) -> Response:
    """Co-sign from the plan page."""
    return await _action(request, db, principal, plan_id, "cosign")


@router.post("/plans/{plan_id}/cancel", response_class=HTMLResponse, include_in_schema=False)
async def cancel_submit(request: Request, plan_id: RecordId, db: DbDep, principal: CreatePage) -> Response:
    """Cancel from the plan page."""
    return await _action(request, db, principal, plan_id, "cancel")


@router.get(
    "/plans/{plan_id}/sessions/{number}/pump-sheet", response_class=HTMLResponse, include_in_schema=False
)
def pump_sheet(
    request: Request, plan_id: RecordId, number: RecordId, db: DbDep, principal: ViewPage
) -> Response:
    """The printable pump-programming sheet of one session: mL/h first."""
    plan = view_plan(db, principal.actor, plan_id)
    sessions = plan.plan["sessions"]
    if not 1 <= number <= len(sessions):
        raise NotFoundError(f"plan {plan_id} has sessions 1-{len(sessions)}; no session {number}")
    patient = (
        registry.view_patient(db, principal.actor, plan.patient_id)
        if principal.actor.sees_identities
        else None
    )
    return render(
        request,
        "plans/pump_sheet.html",
        plan=plan,
        doc=plan.plan,
        session=sessions[number - 1],
        patient=patient,
    )
