"""The server anchors the audit chain's head in the checkpoint file when it starts."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ketaclinic.services.audit import verify
from ketaclinic.settings import Settings
from ketaclinic.store.checkpoints import read_checkpoints
from ketaclinic.store.db import Database


def test_server_start_writes_a_checkpoint_that_verify_holds_the_chain_to(
    app: FastAPI, settings: Settings, web_db: Database
) -> None:
    assert not settings.audit_checkpoints.exists()
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    written = read_checkpoints(settings.audit_checkpoints)
    assert len(written) == 1
    report = verify(web_db, settings.audit_checkpoints)
    assert report.ok and report.checkpoints == 1
    assert written[0].seq == report.events > 0
