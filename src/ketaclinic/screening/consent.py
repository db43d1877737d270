"""The versioned consent content (consent.toml): text, risks, alternatives; who may sign and how."""

from __future__ import annotations

import unicodedata
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


# Who may sign for a patient who does not sign themself: a fixed list, "other" needs its own words.
REPRESENTATIVE_RELATIONS: dict[str, str] = {
    "parent": "Parent",
    "guardian": "Legal guardian",
    "spouse_partner": "Spouse or partner",
    "health_care_proxy": "Health-care proxy",
    "other": "Other (described)",
}


def _folded(name: str) -> str:
    """A name without case, accents, commas or extra spaces, for comparing typed signatures."""
    decomposed = unicodedata.normalize("NFKD", name.replace(",", " "))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def signature_matches(typed: str, given_name: str, family_name: str) -> bool:
    """Whether a typed signature is the patient's given and family name, in either order.

    >>> signature_matches("  jose  GARCÍA ", "José", "García")
    True
    >>> signature_matches("Garcia, Jose", "José", "García")
    True
    >>> signature_matches("Maria Garcia", "José", "García")
    False
    """
    signed = _folded(typed)
    given, family = _folded(given_name), _folded(family_name)
    return bool(signed) and signed in (f"{given} {family}", f"{family} {given}")
