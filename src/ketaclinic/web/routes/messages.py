"""Messages to patients: a patient's messages (API and the patient page's card), the public opt-out page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ketaclinic.errors import NotFoundError, http_status
from ketaclinic.services.messages import opt_out as opt_outs
from ketaclinic.services.messages.outbox import PatientMessagesOut, patient_messages
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, render, requires
from ketaclinic.web.params import RecordId

router = APIRouter()
ViewApi = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW))]
ViewPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW, page=True))]


@router.get("/api/v1/patients/{patient_id}/messages", response_model=PatientMessagesOut, tags=["messages"])
def api_patient_messages(patient_id: RecordId, db: DbDep, principal: ViewApi) -> PatientMessagesOut:
    """The patient's messages (kind, due, state, attempts, sent at, error) and addresses refused for good."""
    return patient_messages(db, principal.actor, patient_id)


@router.get("/patients/{patient_id}/messages", response_class=HTMLResponse, include_in_schema=False)
def patient_messages_card(request: Request, patient_id: RecordId, db: DbDep, principal: ViewPage) -> Response:
    """The patient page's Messages card."""
    return render(request, "messages/_card.html", found=patient_messages(db, principal.actor, patient_id))


def _unknown(request: Request, exc: NotFoundError) -> Response:
    return render(
        request,
        "messages/opt_out.html",
        view=None,
        done=None,
        message=exc.message,
        status_code=http_status(exc),
    )


@router.get("/o/{token}", response_class=HTMLResponse, include_in_schema=False)
def opt_out_page(request: Request, token: str, db: DbDep) -> Response:
    """Ask the patient to confirm (a link opened by a mail scanner must not opt anyone out)."""
    try:
        view = opt_outs.view_opt_out(db, token)
    except NotFoundError as exc:
        return _unknown(request, exc)
    return render(request, "messages/opt_out.html", view=view, done=None, message="")


@router.post("/o/{token}", response_class=HTMLResponse, include_in_schema=False)
def opt_out_submit(request: Request, token: str, db: DbDep) -> Response:
    """Withdraw the patient's consent to be contacted and cancel their queued messages (no login)."""
    try:
        view = opt_outs.view_opt_out(db, token)
        done = opt_outs.opt_out(db, token)
    except NotFoundError as exc:
        return _unknown(request, exc)
    return render(request, "messages/opt_out.html", view=view, done=done, message="")
