"""Reading fields of the screening data files, naming the entry when one is missing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ketaclinic.errors import DataFileError


def required_str(row: Mapping[str, Any], key: str, where: str) -> str:
    """A non-empty string field, or a DataFileError naming `where` and `key`."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataFileError(f"{where}: `{key}` must be a non-empty string")
    return value


def cited_source(row: Mapping[str, Any], sources: Mapping[str, str], where: str) -> str:
    """An entry's `source`: a key of the file's [sources] table, or a literal citation."""
    raw = required_str(row, "source", where)
    return sources.get(raw, raw)
