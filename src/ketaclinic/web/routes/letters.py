"""Print pages and PDFs: the course summary letter to the referrer and the session record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from ketaclinic.reports.letters import (
    STYLESHEET,
    html_to_pdf,
    render_course_letter_html,
    render_session_record_html,
    stylesheet_text,
)
from ketaclinic.services.interop.letters import course_letter, session_record
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires
from ketaclinic.web.params import RecordId

router = APIRouter()
PatientsPage = Annotated[Principal, Depends(requires(Permission.PATIENTS_VIEW, page=True))]
SessionsPage = Annotated[Principal, Depends(requires(Permission.SESSIONS_VIEW, page=True))]
AnyStaffPage = Annotated[Principal, Depends(requires(None, page=True))]
STYLESHEET_URL = f"/print/{STYLESHEET}"


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(STYLESHEET_URL, include_in_schema=False)
def print_stylesheet(principal: AnyStaffPage) -> Response:
    """The print pages' stylesheet (the same one the PDFs are laid out with)."""
    return Response(stylesheet_text(), media_type="text/css")


@router.get("/courses/{course_id}/letter", response_class=HTMLResponse, include_in_schema=False)
def letter_page(course_id: RecordId, db: DbDep, principal: PatientsPage) -> HTMLResponse:
    """The course summary letter to the referring physician, as a print page."""
    letter = course_letter(db, principal.actor, course_id, format_name="letter-html")
    return HTMLResponse(render_course_letter_html(letter, stylesheet_href=STYLESHEET_URL))


@router.get("/courses/{course_id}/letter.pdf", include_in_schema=False)
def letter_pdf(course_id: RecordId, db: DbDep, principal: PatientsPage) -> Response:
    """The course summary letter as PDF."""
    letter = course_letter(db, principal.actor, course_id, format_name="letter-pdf")
    html = render_course_letter_html(letter, stylesheet_href=STYLESHEET_URL)
    return _pdf(html_to_pdf(html), f"course-{course_id}-letter.pdf")


@router.get("/sessions/{session_id}/record", response_class=HTMLResponse, include_in_schema=False)
def record_page(
    session_id: RecordId, db: DbDep, settings: SettingsDep, principal: SessionsPage
) -> HTMLResponse:
    """The printable session record: flowsheet with Cp beside the vitals, doses, events, signatures."""
    chart = session_record(db, principal.actor, session_id, config=settings, format_name="record-html")
    return HTMLResponse(render_session_record_html(chart, stylesheet_href=STYLESHEET_URL))


@router.get("/sessions/{session_id}/record.pdf", include_in_schema=False)
def record_pdf(session_id: RecordId, db: DbDep, settings: SettingsDep, principal: SessionsPage) -> Response:
    """The session record as PDF."""
    chart = session_record(db, principal.actor, session_id, config=settings, format_name="record-pdf")
    html = render_session_record_html(chart, stylesheet_href=STYLESHEET_URL)
    return _pdf(html_to_pdf(html), f"session-{session_id}-record.pdf")
