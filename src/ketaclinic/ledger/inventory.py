"""Inventory counts: which containers may be estimated, and the differences a count finds.

21 CFR 1304.11(e)(3): for Schedules III-V an opened container may be counted by estimate unless it
holds more than 1,000 tablets or capsules (then exactly); a sealed container is counted as full.
A jurisdiction (or a state) may ask for exact counts of everything: `exact_counts_required`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ketaclinic.ledger.entries import StockKey
from ketaclinic.ledger.jurisdictions import InventoryRule


class CountMethod(StrEnum):
    """How a container is counted."""

    SEALED = "sealed"  # counted as full from its label
    EXACT = "exact"
    ESTIMATED = "estimated"


def count_method(
    rule: InventoryRule, schedule: str, *, opened: bool, units_per_container: int | None
) -> CountMethod:
    """How one container is counted under `rule` (units: tablets or capsules; None for a solution)."""
    if not opened:
        return CountMethod.SEALED
    if rule.exact_counts_required or schedule not in rule.estimated_count_schedules:
        return CountMethod.EXACT
    if units_per_container is not None and units_per_container > rule.exact_count_above_units:
        return CountMethod.EXACT
    return CountMethod.ESTIMATED


@dataclass(frozen=True, slots=True)
class CountDifference:
    """A counted quantity that differs from the ledger's balance."""

    key: StockKey
    expected_ul: int
    counted_ul: int

    @property
    def difference_ul(self) -> int:
        """Counted minus expected (negative: stock missing)."""
        return self.counted_ul - self.expected_ul


def count_differences(
    expected: Mapping[StockKey, int], counted: Mapping[StockKey, int]
) -> list[CountDifference]:
    """Every key where the count and the balance disagree (a key not counted counts as zero)."""
    keys: Iterable[StockKey] = sorted(set(expected) | set(counted))
    out = []
    for key in keys:
        want, got = expected.get(key, 0), counted.get(key, 0)
        if want != got:
            out.append(CountDifference(key, want, got))
    return out
