"""Browser: from the course page to the letter for the referrer, from the session to its printable record."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.services import demo
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import TreatmentCourse
from ketaclinic.store.tables.sessions import InfusionSession
from tests.conftest import screenshot

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-interop")


def test_the_letter_and_the_record_open_from_their_screens(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database
) -> None:
    demo.seed_demo(web_db, patient_count=4, config=None)
    with web_db.read() as session:
        sitting = (
            session.execute(
                select(InfusionSession).where(InfusionSession.state == "signed").order_by(InfusionSession.id)
            )
            .scalars()
            .first()
        )
        assert sitting is not None
        course_id = session.execute(
            select(TreatmentCourse.id).where(TreatmentCourse.plan_id == sitting.plan_id)
        ).scalar_one()
    doctor = browser_login("physician")
    errors: list[str] = []
    doctor.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    doctor.goto(f"/courses/{course_id}")
    with doctor.expect_navigation():
        doctor.click("#letter-link")
    assert doctor.locator("h1").inner_text() == "Ketamine infusion course: summary"
    assert doctor.locator("svg").count() >= 1
    assert doctor.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse") == "collapse"
    shots = [screenshot(doctor, "course-letter")]
    doctor.goto(f"/sessions/{sitting.id}")
    with doctor.expect_navigation():
        doctor.click("#record-link")
    assert doctor.locator("h2", has_text="Flowsheet with the predicted concentration").count() == 1
    assert doctor.locator("td.cp", has_text=re.compile(r"\d")).count() > 0  # Cp beside the readings
    shots.append(screenshot(doctor, "session-record"))
    assert errors == []  # no script, no blocked inline style
    SHOTS.mkdir(exist_ok=True)
    for shot in shots:
        shutil.copy(shot, SHOTS / shot.name)
