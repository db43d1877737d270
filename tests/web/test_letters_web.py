"""Letter and session record print pages (no script, one linked stylesheet) and their PDFs."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaclinic.services import demo
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import TreatmentCourse
from ketaclinic.store.tables.sessions import InfusionSession


def test_print_pages_and_pdfs(api_client: Callable[[str | None], TestClient], web_db: Database) -> None:
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
    client = api_client("physician")
    for page in (f"/courses/{course_id}/letter", f"/sessions/{sitting.id}/record"):
        response = client.get(page)
        assert response.status_code == 200, response.text
        html = response.text
        assert "<script" not in html and "<style" not in html and not re.search(r"\sstyle=", html)
        assert re.search(r"\son[a-z]+=", html) is None  # no inline event handler
        assert '<link rel="stylesheet" href="/print/print.css">' in html
        pdf = client.get(page + ".pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    css = client.get("/print/print.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert api_client("researcher").get(f"/courses/{course_id}/letter").status_code == 403
    assert client.get("/courses/9999/letter").status_code == 404
