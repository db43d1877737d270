"""The clinic's controlled-substance policy: shipped ledger_policy.toml, overridden by the clinic's file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError

POLICY_FILE = "ledger_policy.toml"
COUNT_FREQUENCIES = ("shift", "daily")
_KEYS = (
    "jurisdiction",
    "witness_required",
    "double_check_required",
    "reconcile_before_signing",
    "tolerance_mg",
    "count_frequency",
)


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One policy value with its source."""

    value: bool | float | str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """What the clinic asks of its controlled-substance records."""

    jurisdiction: str
    witness_required: bool
    double_check_required: bool
    reconcile_before_signing: bool
    tolerance_mg: float
    count_frequency: str
    sources: Mapping[str, PolicyEntry]


def _entry(row: Any, key: str, where: str) -> PolicyEntry:
    if not isinstance(row, Mapping) or "value" not in row:
        raise DataFileError(f"{where}: [{key}] needs a value")
    return PolicyEntry(row["value"], str(row.get("source", where)), parse_status(row.get("status"), where))


def _policy(entries: Mapping[str, PolicyEntry], where: str) -> LedgerPolicy:
    flags = {
        k: entries[k].value for k in ("witness_required", "double_check_required", "reconcile_before_signing")
    }
    if not all(isinstance(v, bool) for v in flags.values()):
        raise DataFileError(
            f"{where}: witness_required, double_check_required, reconcile_before_signing are true or false"
        )
    tolerance = entries["tolerance_mg"].value
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance <= 100:
        raise DataFileError(f"{where}: tolerance_mg is a number of mg from 0 to 100")
    frequency = str(entries["count_frequency"].value)
    if frequency not in COUNT_FREQUENCIES:
        raise DataFileError(f"{where}: count_frequency is one of {', '.join(COUNT_FREQUENCIES)}")
    return LedgerPolicy(
        jurisdiction=str(entries["jurisdiction"].value),
        witness_required=bool(flags["witness_required"]),
        double_check_required=bool(flags["double_check_required"]),
        reconcile_before_signing=bool(flags["reconcile_before_signing"]),
        tolerance_mg=float(tolerance),
        count_frequency=frequency,
        sources=dict(entries),
    )


@cache
def _shipped() -> LedgerPolicy:
    raw = load_toml(POLICY_FILE)
    return _policy({key: _entry(raw.get(key), key, POLICY_FILE) for key in _KEYS}, POLICY_FILE)


def load_ledger_policy(override_path: Path | None = None) -> LedgerPolicy:
    """The shipped policy, with any key the clinic's file gives replacing the shipped one."""
    shipped = _shipped()
    if override_path is None or not override_path.is_file():
        return shipped
    raw = load_toml_path(override_path)
    unknown = set(raw) - set(_KEYS)
    if unknown:
        raise DataFileError(f"{override_path}: unknown keys {sorted(unknown)}; known: {', '.join(_KEYS)}")
    entries = dict(shipped.sources)
    for key, value in raw.items():
        row = dict(value) if isinstance(value, Mapping) else {}
        row.setdefault("source", override_path.name)
        row.setdefault("status", Status.LOCAL_POLICY.value)
        entries[key] = _entry(row, key, str(override_path))
    return _policy(entries, str(override_path))
