"""The versioned consent content (consent.toml): text, the risks discussed and the alternatives."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.screening.datafields import required_str

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
    return ConsentItem(
        code=required_str(row, "code", where),
        label=required_str(row, "label", where),
        text=required_str(row, "text", where),
        source=required_str(row, "source", where),
        status=parse_status(row.get("status"), where),
    )


@cache
def current_consent_template() -> ConsentTemplate:
    """The consent template shipped now (version, text, risks, alternatives)."""
    data = load_toml(CONSENT_FILE)
    return ConsentTemplate(
        version=required_str(data, "version", CONSENT_FILE),
        title=required_str(data, "title", CONSENT_FILE),
        text=required_str(data, "text", CONSENT_FILE).strip(),
        risks=tuple(_item(row, f"{CONSENT_FILE} risk[{i}]") for i, row in enumerate(data.get("risk", []))),
        alternatives=tuple(
            _item(row, f"{CONSENT_FILE} alternative[{i}]")
            for i, row in enumerate(data.get("alternative", []))
        ),
        source=required_str(data, "source", CONSENT_FILE),
        status=parse_status(data.get("status"), CONSENT_FILE),
    )
