"""The crisis text a patient reads after answers that raised a self-harm alert (shipped, or the clinic's)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError

CRISIS_FILE = "crisis_text.toml"
_KEYS = {"heading", "text", "source", "status"}


@dataclass(frozen=True, slots=True)
class CrisisText:
    """A heading and paragraphs for the patient, with where the words come from."""

    heading: str
    paragraphs: tuple[str, ...]
    source: str
    status: Status


def _crisis(table: dict[str, object], where: str, default: CrisisText | None) -> CrisisText:
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise DataFileError(f"{where}: unknown key {unknown[0]!r}")
    heading = table.get("heading", None if default is None else default.heading)
    text = table.get("text")
    if not isinstance(heading, str) or not heading.strip():
        raise DataFileError(f"{where}: heading must be a non-empty text")
    if not isinstance(text, str) or not text.strip():
        raise DataFileError(f"{where}: text must be a non-empty text")
    paragraphs = tuple(line.strip() for line in text.splitlines() if line.strip())
    if default is None:
        return CrisisText(heading, paragraphs, str(table["source"]), parse_status(table["status"], where))
    return CrisisText(
        heading, paragraphs, str(table.get("source", f"clinic text ({where})")), Status.LOCAL_POLICY
    )


@cache
def _shipped() -> CrisisText:
    return _crisis(load_toml(CRISIS_FILE), CRISIS_FILE, None)


def crisis_text(override_path: Path | None = None) -> CrisisText:
    """The shipped crisis text, or the clinic's crisis_text.toml when it exists (always local-policy)."""
    shipped = _shipped()
    if override_path is None or not override_path.is_file():
        return shipped
    return _crisis(load_toml_path(override_path), str(override_path), shipped)
