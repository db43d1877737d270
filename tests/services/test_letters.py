"""The course summary letter and the printable session record: content, audit, roles, and the real PDF."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import NotFoundError, PermissionDeniedError
from ketaclinic.reports.letters import (
    cp_at,
    html_to_pdf,
    render_course_letter_html,
    render_session_record_html,
)
from ketaclinic.services import demo
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.interop.letters import course_letter, session_record
from ketaclinic.services.patients.contact import ReferrerIn, set_referrer
from ketaclinic.services.patients.registry import view_patient
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import TreatmentCourse
from ketaclinic.store.tables.sessions import InfusionSession, SessionAdverseEvent
from tests.audit_support import latest_event

SHOTS = Path("/tmp/shots-interop")


@dataclass(frozen=True)
class Referred:
    """The demo clinic with one course whose sessions charted an adverse event, its patient referred."""

    context: DemoContext
    course_id: int
    session_id: int


@pytest.fixture
def referred(db: Database) -> Referred:
    context = demo.seed_demo(db, patient_count=6, config=None)
    with db.read() as session:
        event_session = (
            session.execute(
                select(InfusionSession)
                .join(SessionAdverseEvent, SessionAdverseEvent.session_id == InfusionSession.id)
                .order_by(InfusionSession.id)
            )
            .scalars()
            .first()
        )
        assert event_session is not None
        course_id = session.execute(
            select(TreatmentCourse.id).where(TreatmentCourse.plan_id == event_session.plan_id)
        ).scalar_one()
        patient_id, session_id = event_session.patient_id, event_session.id
    version = view_patient(db, context.physician, patient_id).version
    set_referrer(
        db,
        context.physician,
        patient_id,
        ReferrerIn(
            version=version, name="Dr Ana Silva", identifier="GMC 7654321", address="1 High St\nLeeds"
        ),
    )
    return Referred(context, course_id, session_id)


def test_the_letter_says_what_the_referrer_needs(db: Database, referred: Referred) -> None:
    letter = course_letter(db, referred.context.physician, referred.course_id, format_name="letter-html")
    assert letter.referrer is not None and letter.referrer.name == "Dr Ana Silva"
    assert letter.diagnoses and letter.protocol_id
    given = [s for s in letter.sessions if s.given_mg]
    assert given and letter.total_given_mg == pytest.approx(sum(s.given_mg or 0 for s in given), abs=0.2)
    (event,) = letter.adverse_events
    assert event.action and event.outcome and event.cp_at_onset_ng_ml > 0
    audited = latest_event(db, "treatment_course")
    assert (audited.action, json.loads(audited.changes_json)["recipient"]["new"]) == (
        "export",
        "Dr Ana Silva",
    )
    html = render_course_letter_html(letter, stylesheet_href="print.css")
    assert "Dr Ana Silva" in html and "<svg" in html and event.action in html
    assert "<script" not in html and "style=" not in html and "<style" not in html


def test_researchers_get_no_letter_and_an_unknown_course_is_not_found(
    db: Database, referred: Referred
) -> None:
    with pytest.raises(PermissionDeniedError):
        course_letter(db, referred.context.researcher, referred.course_id, format_name="letter-html")
    with pytest.raises(NotFoundError):
        course_letter(db, referred.context.physician, 9999, format_name="letter-html")


def test_the_session_record_puts_cp_beside_each_reading(db: Database, referred: Referred) -> None:
    chart = session_record(
        db, referred.context.nurse, referred.session_id, config=None, format_name="record-html"
    )
    assert latest_event(db, "infusion_session").action == "export"
    during = [o for o in chart.observations if o.phase == "infusion"]
    assert during and all(cp_at(chart, o.t_min) is not None for o in during)
    assert chart.prediction is not None
    first = chart.prediction.t_min[1]
    assert cp_at(chart, first) == chart.prediction.cp_ng_ml[1]
    assert cp_at(chart, -5.0) is None
    html = render_session_record_html(chart, stylesheet_href="print.css")
    assert "Flowsheet with the predicted concentration" in html and "<script" not in html


def test_the_letter_and_record_render_to_pdf_and_png(
    db: Database, referred: Referred, tmp_path: Path
) -> None:
    letter = course_letter(db, referred.context.physician, referred.course_id, format_name="letter-pdf")
    chart = session_record(
        db, referred.context.nurse, referred.session_id, config=None, format_name="record-pdf"
    )
    SHOTS.mkdir(exist_ok=True)
    for name, html in (
        ("letter", render_course_letter_html(letter, stylesheet_href="print.css")),
        ("record", render_session_record_html(chart, stylesheet_href="print.css")),
    ):
        pdf = tmp_path / f"{name}.pdf"
        pdf.write_bytes(html_to_pdf(html))
        assert pdf.read_bytes().startswith(b"%PDF-")
        subprocess.run(
            ["pdftoppm", "-r", "70", "-png", str(pdf), str(SHOTS / f"{db.dialect}-{name}")], check=True
        )
        pages = sorted(SHOTS.glob(f"{db.dialect}-{name}-*.png"))
        assert pages and all(p.stat().st_size > 5_000 for p in pages)
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        if name == "letter":
            assert "Dr Ana Silva" in text and "Total given" in text and "Follow-up plan" in text
        else:
            assert "Flowsheet with the predicted concentration" in text and "Signatures" in text
