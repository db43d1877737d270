"""`ketaclinic fhir export|import` from a terminal: files written, patients registered, bad input exit 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.cli import main
from ketaclinic.services import demo
from ketaclinic.services.patients.registry import list_patients
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import TreatmentCourse
from tests.conftest import TEST_SECRET_KEY, open_test_database

Run = Callable[..., tuple[int, str, str]]


def _env(database: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "KETACLINIC_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
        "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY,
    }


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`run(env, *args)`: the installed command's exit code, stdout and stderr."""

    def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["ketaclinic", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    return invoke


@pytest.fixture
def empty_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    folder = tmp_path / "target"
    folder.mkdir()
    with open_test_database(request, "sqlite", folder) as database:
        yield database


def test_export_then_import_into_another_database(
    run: Run, web_db: Database, tmp_path: Path, empty_target: Database
) -> None:
    demo.seed_demo(web_db, patient_count=4, config=None)
    env = _env(web_db, tmp_path)
    out = tmp_path / "bulk"
    code, stdout, stderr = run(env, "fhir", "export", str(out), "--deidentified", "--json")
    assert code == 0, stderr
    counts = json.loads(stdout)["counts"]
    assert counts["Patient"] == 4
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.ndjson" for t in counts] + ["manifest.json"]
    )
    identified = tmp_path / "identified"
    assert run(env, "fhir", "export", str(identified))[0] == 0
    referral = tmp_path / "referral.ndjson"
    referral.write_text(
        (identified / "Patient.ndjson").read_text() + (identified / "Condition.ndjson").read_text()
    )
    target = _env(empty_target, tmp_path)
    code, stdout, stderr = run(target, "fhir", "import", str(referral))
    assert code == 0, stderr
    assert stdout.count("registered ") == 4
    assert list_patients(empty_target, SYSTEM)[1] == 4
    code, stdout, stderr = run(target, "fhir", "import", str(referral))
    assert code == 2
    assert stderr.count("\n") == 1 and "already registered" in stderr
    assert list_patients(empty_target, SYSTEM)[1] == 4


def test_bad_input_is_one_line_and_exit_2(run: Run, web_db: Database, tmp_path: Path) -> None:
    env = _env(web_db, tmp_path)
    bad = tmp_path / "bad.ndjson"
    bad.write_text(
        '{"resourceType": "Patient", "id": "a", "gender": "female"}\n'
        '{"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/a"}}\n'
    )
    code, stdout, stderr = run(env, "fhir", "import", str(bad))
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1
    assert "line 1.identifier" in stderr and "line 1.birthDate" in stderr
    code, _stdout, stderr = run(env, "fhir", "export", str(tmp_path / "x"), "--since", "soon")
    assert code == 2 and "--since" in stderr
    code, _stdout, stderr = run(env, "fhir", "import", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in stderr


def test_letter_writes_a_pdf(run: Run, web_db: Database, tmp_path: Path) -> None:
    demo.seed_demo(web_db, patient_count=4, config=None)
    with web_db.read() as session:
        course_id = (
            session.execute(
                select(TreatmentCourse.id)
                .where(TreatmentCourse.plan_id.is_not(None))
                .order_by(TreatmentCourse.id)
            )
            .scalars()
            .first()
        )
    env = _env(web_db, tmp_path)
    out = tmp_path / "letter.pdf"
    code, stdout, stderr = run(env, "letter", str(course_id), "--out", str(out))
    assert code == 0, stderr
    assert out.read_bytes().startswith(b"%PDF-") and stdout == f"wrote {out}\n"
    code, _stdout, stderr = run(env, "letter", str(course_id), "--out", str(tmp_path / "letter.doc"))
    assert code == 2 and "--out" in stderr
    code, _stdout, stderr = run(env, "letter", "9999", "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1
