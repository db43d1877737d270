"""The server anchors the audit chain's head in the checkpoint file when it starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ketaclinic.services.audit import verify
from ketaclinic.settings import Settings
from ketaclinic.store.checkpoints import read_checkpoints
from ketaclinic.store.db import Database


def test_server_start_writes_a_checkpoint_that_verify_holds_the_chain_to(
    app: FastAPI, settings: Settings, web_db: Database
) -> None:
    assert not settings.audit_checkpoint_file.exists()
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    written = read_checkpoints(settings.audit_checkpoint_file)
    assert len(written) == 1
    report = verify(web_db, settings.audit_checkpoint_file)
    assert report.ok and report.checkpoints == 1
    assert written[0].seq == report.events > 0


def test_an_unwritable_checkpoint_file_does_not_stop_the_server(
    settings: Settings, web_db: Database, tmp_path: Path
) -> None:
    from ketaclinic.web.app import create_app

    blocked = replace(settings, audit_checkpoints=tmp_path)  # a folder: appending to it fails
    with TestClient(create_app(blocked, web_db)) as client:
        assert client.get("/health").status_code == 200
