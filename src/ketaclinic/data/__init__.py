"""The clinical numbers as TOML data files, each entry carrying its `source` and `status`.

Status labels (shared/reference): `verified` (primary text seen), `secondary` (secondary summary),
`local-policy` (engineering or clinic default; configurable, never a guideline statement).
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from ketaclinic.errors import DataFileError


class Status(StrEnum):
    """How far a shipped number can be trusted."""

    VERIFIED = "verified"
    SECONDARY = "secondary"
    LOCAL_POLICY = "local-policy"


def load_toml(name: str) -> dict[str, Any]:
    """Load a TOML file shipped in this package (e.g. `pk_models.toml`)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{name}: {exc}") from exc


def load_toml_path(path: Path) -> dict[str, Any]:
    """Load a clinic-supplied TOML file, naming the file in any error."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"{path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{path}: {exc}") from exc


def parse_status(value: object, where: str) -> Status:
    """Read a `status` field, naming the entry when it is missing or unknown."""
    try:
        return Status(str(value))
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise DataFileError(f"{where}: status {value!r} is not one of {allowed}") from None
