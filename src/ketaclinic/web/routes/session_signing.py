"""After the infusion on the charting screen: discharge with the checklist, the signature, addenda."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ketaclinic.services.sessions import signing
from ketaclinic.web.deps import DbDep, SettingsDep
from ketaclinic.web.forms import text
from ketaclinic.web.params import RecordId
from ketaclinic.web.routes.session_screens import ChartPage, SignPage
from ketaclinic.web.session_page import act, discharge_answers

router = APIRouter()


@router.post("/sessions/{session_id}/discharge", response_class=HTMLResponse, include_in_schema=False)
async def discharge_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage, settings: SettingsDep
) -> Response:
    """Discharge with the checklist answers."""

    def step(form: FormData) -> object:
        data = signing.DischargeIn(answers=discharge_answers(form))
        return signing.discharge(db, principal.actor, session_id, data, config=settings)

    return await act(request, db, principal, session_id, step, "discharge")


@router.post("/sessions/{session_id}/sign", response_class=HTMLResponse, include_in_schema=False)
async def sign_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: SignPage, settings: SettingsDep
) -> Response:
    """Sign and lock the record."""
    return await act(
        request,
        db,
        principal,
        session_id,
        lambda _form: signing.sign(db, principal.actor, session_id, config=settings),
        "sign",
    )


@router.post("/sessions/{session_id}/addenda", response_class=HTMLResponse, include_in_schema=False)
async def addendum_submit(
    request: Request, session_id: RecordId, db: DbDep, principal: ChartPage
) -> Response:
    """Add an addendum to the signed record."""

    def step(form: FormData) -> object:
        body = signing.AddendumIn(text=text(form, "text"))
        return signing.add_addendum(db, principal.actor, session_id, body)

    return await act(request, db, principal, session_id, step, "addendum")
