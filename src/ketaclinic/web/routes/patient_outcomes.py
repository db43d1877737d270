"""The patient page's outcomes: every answer, the NRS plot, the alerts the answers raised and their ack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.reports.patient_chart import nrs_chart
from ketaclinic.services.outcomes import pro_alerts, trajectory
from ketaclinic.services.permissions import Permission
from ketaclinic.services.sessions.alert_records import AlertOut
from ketaclinic.services.sessions.alerts import AckIn
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.forms import blank, error_line, text
from ketaclinic.web.params import RecordId
from ketaclinic.web.routes.outcomes import GAD7_ITEMS, PGIC_LEVELS, PHQ9_ITEMS

router = APIRouter()
RecordApi = Annotated[Principal, Depends(requires(Permission.OUTCOMES_RECORD))]
RecordPage = Annotated[Principal, Depends(requires(Permission.OUTCOMES_RECORD, page=True))]
AckApi = Annotated[Principal, Depends(requires(Permission.PATIENT_ALERTS_ACKNOWLEDGE))]
AckPage = Annotated[Principal, Depends(requires(Permission.PATIENT_ALERTS_ACKNOWLEDGE, page=True))]


@router.get("/api/v1/patients/{patient_id}/alerts", response_model=list[AlertOut], tags=["alerts"])
def api_patient_alerts(patient_id: RecordId, db: DbDep, principal: RecordApi) -> list[AlertOut]:
    """The alerts a patient's answers raised outside any session (PHQ-9 item 9), most severe first."""
    return pro_alerts.patient_alerts(db, principal.actor, patient_id)


@router.post("/api/v1/patients/{patient_id}/alerts/{alert_id}/ack", response_model=AlertOut, tags=["alerts"])
def api_ack_patient_alert(
    patient_id: RecordId, alert_id: RecordId, body: AckIn, db: DbDep, principal: AckApi
) -> AlertOut:
    """A physician acknowledges a patient's alert with the action taken."""
    return pro_alerts.acknowledge_patient_alert(db, principal.actor, patient_id, alert_id, body)


def _fragment(
    request: Request,
    db: DbDep,
    principal: Principal,
    patient_id: int,
    *,
    ack_error: str = "",
    ack_typed: Mapping[str, object] | None = None,
) -> Response:
    outcomes = trajectory.patient_outcomes(db, principal.actor, patient_id)
    return render(
        request,
        "patients/_outcomes.html",
        patient_id=patient_id,
        outcomes=outcomes,
        chart=nrs_chart(outcomes),
        pgic_labels=dict(PGIC_LEVELS),
        item_texts={"phq9": PHQ9_ITEMS, "gad7": GAD7_ITEMS},
        ack_error=ack_error,
        ack_typed=ack_typed or {},
    )


@router.get("/patients/{patient_id}/outcomes", response_class=HTMLResponse, include_in_schema=False)
def outcomes_fragment(request: Request, patient_id: RecordId, db: DbDep, principal: RecordPage) -> Response:
    """The patient page's outcomes section (loaded by the page)."""
    return _fragment(request, db, principal, patient_id)


@router.post(
    "/patients/{patient_id}/alerts/{alert_id}/ack", response_class=HTMLResponse, include_in_schema=False
)
async def ack_from_page(
    request: Request, patient_id: RecordId, alert_id: RecordId, db: DbDep, principal: AckPage
) -> Response:
    """Acknowledge a patient's alert from their page, then send the outcomes section back (htmx)."""
    form = await request.form()
    typed = {"action": text(form, "action"), "note": text(form, "note")}
    try:
        if not typed["action"]:
            raise InputError("choose the action taken", field="action")
        body = AckIn.model_validate({"action": typed["action"], "note": blank(typed["note"])})
        pro_alerts.acknowledge_patient_alert(db, principal.actor, patient_id, alert_id, body)
    except (InputError, ValidationError, ConflictError, NotFoundError) as exc:
        # The section comes back whole with the problem beside the form (htmx swaps only a 200), and
        # what was typed stays in that alert's form.
        kept = typed | {"alert_id": alert_id}
        return _fragment(request, db, principal, patient_id, ack_error=error_line(exc), ack_typed=kept)
    response = _fragment(request, db, principal, patient_id)
    response.headers["HX-Trigger"] = "refresh-alerts"  # the badge drops now, not at its next poll
    return response
