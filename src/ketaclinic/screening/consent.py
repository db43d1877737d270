"""The versioned consent content (consent.toml): text, the risks discussed and the alternatives."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError

CONSENT_FILE = "consent.toml"


class ConsentItem(BaseModel):
    """A risk discussed or an alternative offered, with its source."""

    model_config = ConfigDict(frozen=True)

    code: str
    label: str
    text: str
    source: str
    status: Status


class ConsentTemplate(BaseModel):
    """The consent a patient is asked to sign; the service stores the `version` signed."""

    model_config = ConfigDict(frozen=True)

    version: str
    title: str
    text: str
    risks: tuple[ConsentItem, ...]
    alternatives: tuple[ConsentItem, ...]
    source: str
    status: Status


def _item(row: Mapping[str, Any], where: str) -> ConsentItem:
    for key in ("code", "label", "text", "source"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise DataFileError(f"{where}: `{key}` must be a non-empty string")
    return ConsentItem(
        code=row["code"],
        label=row["label"],
        text=row["text"],
        source=row["source"],
        status=parse_status(row.get("status"), where),
    )


@cache
def current_consent_template() -> ConsentTemplate:
    """The consent template shipped now (version, text, risks, alternatives)."""
    data = load_toml(CONSENT_FILE)
    for key in ("version", "title", "text", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise DataFileError(f"{CONSENT_FILE}: `{key}` must be a non-empty string")
    return ConsentTemplate(
        version=data["version"],
        title=data["title"],
        text=data["text"].strip(),
        risks=tuple(_item(row, f"{CONSENT_FILE} risk[{i}]") for i, row in enumerate(data.get("risk", []))),
        alternatives=tuple(
            _item(row, f"{CONSENT_FILE} alternative[{i}]")
            for i, row in enumerate(data.get("alternative", []))
        ),
        source=data["source"],
        status=parse_status(data.get("status"), CONSENT_FILE),
    )
