"""No patient data in the server's logs: one access line per request, database errors without values."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.web.problems import failure_summary
from tests import factories

Client = Callable[[str | None], TestClient]
SECRET_NAME = "Zebediah-Quixote"


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ketaclinic.access"]


def test_each_request_logs_user_method_route_template_status_and_duration_never_the_query(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], caplog: pytest.LogCaptureFixture
) -> None:
    patient_id = factories.make_patient(web_db, web_staff["nurse"], mrn="LOG-1", family_name=SECRET_NAME)
    nurse = api_client("nurse")
    caplog.set_level(logging.INFO, logger="ketaclinic.access")
    assert nurse.get("/api/v1/patients", params={"q": SECRET_NAME}).status_code == 200
    assert nurse.get(f"/api/v1/patients/{patient_id}").status_code == 200
    assert api_client(None).get("/api/v1/patients/424242?mrn=LOG-1").status_code == 401
    lines = _access_lines(caplog)
    nurse_id = web_staff["nurse"].user_id
    assert lines[0].startswith(f"user={nurse_id} method=GET route=/api/v1/patients status=200 duration_ms=")
    assert lines[1].startswith(f"user={nurse_id} method=GET route=/api/v1/patients/{{patient_id}} status=200")
    assert lines[2].startswith("user=- method=GET route=/api/v1/patients/{patient_id} status=401")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for leaked in (SECRET_NAME, "LOG-1", "424242", f"/patients/{patient_id}", "q="):
        assert leaked not in everything


def test_a_database_error_carries_no_bound_values(web_db: Database) -> None:
    with pytest.raises(DBAPIError) as caught, web_db.engine.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table WHERE name = :name"), {"name": SECRET_NAME})
    assert SECRET_NAME not in str(caught.value)
    assert "hidden" in str(caught.value)  # SQLAlchemy's note that the parameters were withheld
    summary = failure_summary(caught.value)
    assert "no_such_table" in summary and SECRET_NAME not in summary


def test_an_unexpected_error_is_logged_without_its_message(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise ValueError(f"could not parse {SECRET_NAME}'s record")

    app.add_api_route("/api/v1/test-explode", explode)
    caplog.set_level(logging.INFO)
    answer = TestClient(app, raise_server_exceptions=False).get("/api/v1/test-explode?name=x")
    assert answer.status_code == 500 and SECRET_NAME not in answer.text
    assert (
        answer.headers["cache-control"] == "no-store"
        and "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    )  # the last-resort answer carries the security headers too
    server = [r for r in caplog.records if not r.name.startswith("httpx")]  # the test client logs its URLs
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in server)
    assert "unexpected error on GET /api/v1/test-explode" in logged and "builtins.ValueError" in logged
    assert "in explode" in logged  # where it happened is kept
    assert SECRET_NAME not in logged and "name=x" not in logged, logged


def test_the_server_runs_without_uvicorns_access_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from ketaclinic.cli import app as cli_app

    monkeypatch.setenv("KETACLINIC_VAR_DIR", str(tmp_path))
    # serve adds a stderr handler; the runner's stderr closes after the test, so later logs must not reach it.
    monkeypatch.setattr(logging.getLogger("ketaclinic"), "handlers", [])
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: seen.update(options))
    monkeypatch.setattr("ketaclinic.cli.commands.foundation.open_database", lambda: _FakeDatabase())
    monkeypatch.setattr("ketaclinic.services.demo.is_seeded", lambda _db: False)
    monkeypatch.setattr("ketaclinic.web.app.create_app", lambda *_args: object())
    result = CliRunner().invoke(cli_app, ["serve"])
    assert result.exit_code == 0, result.output
    assert seen["access_log"] is False  # its lines carry raw paths and query strings


class _FakeDatabase:
    dialect = "sqlite"
