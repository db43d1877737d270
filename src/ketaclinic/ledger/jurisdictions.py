"""Jurisdiction rule files: each controlled drug's schedule, the inventory count rules and the retention."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml_path, parse_status
from ketaclinic.errors import DataFileError, NotFoundError

DEFAULT_JURISDICTION = "us-federal"
SHIPPED: tuple[str, ...] = ("us-federal", "uk")


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A drug's schedule in one jurisdiction, with its source."""

    drug: str
    schedule: str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class InventoryRule:
    """How an inventory counts: which schedules may be estimated in opened containers, and when not."""

    estimated_count_schedules: frozenset[str]
    exact_count_above_units: int
    exact_counts_required: bool
    interval_years: int
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """One jurisdiction's controlled-substance rules."""

    id: str
    name: str
    schedules: Mapping[str, ScheduleEntry]
    inventory: InventoryRule
    retention_years: int
    retention_source: str

    def schedule_of(self, drug: str) -> ScheduleEntry:
        """The drug's schedule here; NotFoundError when the file does not schedule it."""
        entry = self.schedules.get(drug)
        if entry is None:
            raise NotFoundError(f"{self.id} schedules no {drug!r}", field="drug")
        return entry


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise DataFileError(f"{where}: [{key}] is missing")
    return value


def parse_jurisdiction(raw: Mapping[str, Any], where: str) -> Jurisdiction:
    """A jurisdiction from its parsed TOML; DataFileError naming the entry at fault."""
    head = _table(raw, "jurisdiction", where)
    schedules: dict[str, ScheduleEntry] = {}
    for drug, row in _table(raw, "schedules", where).items():
        if not isinstance(row, Mapping) or not row.get("schedule") or not row.get("source"):
            raise DataFileError(f"{where}: [schedules.{drug}] needs schedule and source")
        schedules[drug] = ScheduleEntry(
            drug,
            str(row["schedule"]),
            str(row["source"]),
            parse_status(row.get("status"), f"{where}: {drug}"),
        )
    inv = _table(raw, "inventory", where)
    ret = _table(raw, "retention", where)
    try:
        inventory = InventoryRule(
            frozenset(str(s) for s in inv["estimated_count_schedules"]),
            int(inv["exact_count_above_units"]),
            bool(inv["exact_counts_required"]),
            int(inv["interval_years"]),
            str(inv["source"]),
            parse_status(inv.get("status"), f"{where}: inventory"),
        )
        years = int(ret["years"])
        return Jurisdiction(
            str(head["id"]), str(head["name"]), schedules, inventory, years, str(ret["source"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"{where}: {exc}") from None


@cache
def _shipped(jurisdiction_id: str) -> Jurisdiction:
    where = f"ledger/{jurisdiction_id}.toml"
    text = resources.files("ketaclinic.data").joinpath("ledger", f"{jurisdiction_id}.toml").read_text("utf-8")
    try:
        return parse_jurisdiction(tomllib.loads(text), where)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{where}: {exc}") from exc


def load_jurisdiction(jurisdiction_id: str, config_dir: Path | None = None) -> Jurisdiction:
    """The clinic's file `ledger/<id>.toml` in its config directory if it has one, else the shipped file."""
    if config_dir is not None:
        path = config_dir / "ledger" / f"{jurisdiction_id}.toml"
        if path.is_file():
            return parse_jurisdiction(load_toml_path(path), str(path))
    if jurisdiction_id not in SHIPPED:
        raise NotFoundError(
            f"no jurisdiction {jurisdiction_id!r} (shipped: {', '.join(SHIPPED)})", field="jurisdiction"
        )
    return _shipped(jurisdiction_id)
