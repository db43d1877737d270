"""User-facing sources in the shipped data files cite publications or local policy, never the team's notes."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import ketaclinic.data

DATA = Path(ketaclinic.data.__file__).parent
INTERNAL = ("shared/reference", "clinical.md", "pharmacology.md", "controlled-substances.md")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_no_shipped_value_cites_an_internal_reference_file() -> None:
    cited = [
        f"{path.name}: {text}"
        for path in sorted(DATA.rglob("*.toml"))
        for text in _strings(tomllib.loads(path.read_text(encoding="utf-8")))
        if any(name in text for name in INTERNAL)
    ]
    assert cited == []
