"""One version: `ketaclinic.__version__`, which pyproject.toml reads and every surface shows."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

import ketaclinic

ROOT = Path(__file__).resolve().parents[1]
VERSION = ketaclinic.__version__


def test_the_version_is_semantic() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z.]+)?", VERSION)


def test_pyproject_reads_the_version_from_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in config["project"]
    assert config["project"]["dynamic"] == ["version"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ketaclinic.__version__"}


def test_no_other_file_spells_the_version() -> None:
    spelled = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "src").rglob("*")
        if path.suffix in {".py", ".html", ".toml", ".ini"}
        and f'"{VERSION}"' in path.read_text(encoding="utf-8")
    ]
    assert spelled == ["src/ketaclinic/__init__.py"]


def test_the_changelog_names_the_version_as_the_latest_release() -> None:
    headings = re.findall(
        r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert next(heading for heading in headings if heading != "Unreleased") == VERSION


def test_cli_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ketaclinic", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ketaclinic {VERSION}\n"


def test_openapi_and_health_show_the_version(api_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = api_client(None)
    assert client.get("/api/v1/openapi.json").json()["info"]["version"] == VERSION
    health = client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["version"] == VERSION
