"""Ledger entries and the running balance they add up to, per product, lot and location.

Quantities are whole microlitres, so a balance is an exact sum. An entry is never edited: a
correction is a new entry reversing an earlier one, with a reason. Administration and waste are
accounted against the preparation they come from (its drug left stock when it was drawn), so they
move no stock balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ketaclinic.errors import ConflictError, InputError


class EntryKind(StrEnum):
    """What an entry records."""

    RECEIPT = "receipt"
    DRAW = "draw"  # drawn from a container into a preparation
    ADMINISTRATION = "administration"
    WASTE = "waste"
    RETURN = "return"  # to a reverse distributor
    DESTRUCTION = "destruction"
    LOSS = "loss"  # loss or theft (DEA Form 106)
    ADJUSTMENT = "adjustment"  # a count difference booked
    CORRECTION = "correction"  # reverses an earlier entry


# The sign an entry's quantity moves stock by (ADJUSTMENT carries its own sign, CORRECTION the reverse).
STOCK_SIGN: Mapping[EntryKind, int] = {
    EntryKind.RECEIPT: 1,
    EntryKind.DRAW: -1,
    EntryKind.ADMINISTRATION: 0,
    EntryKind.WASTE: 0,
    EntryKind.RETURN: -1,
    EntryKind.DESTRUCTION: -1,
    EntryKind.LOSS: -1,
}


@dataclass(frozen=True, slots=True, order=True)
class StockKey:
    """Where a balance is kept: one product's lot at one storage location."""

    product_id: int
    lot: str
    location_id: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry: `quantity_ul` is a magnitude, except an adjustment's, which is signed."""

    seq: int
    kind: EntryKind
    key: StockKey
    quantity_ul: int
    reverses_seq: int | None = None
    reason: str = ""


class NegativeBalanceError(ConflictError):
    """An entry would take a balance below zero (nothing is written)."""

    def __init__(self, seq: int, key: StockKey, balance_ul: int) -> None:
        super().__init__(
            f"entry {seq} would leave product {key.product_id} lot {key.lot} at location {key.location_id}"
            f" at {balance_ul / 1000:g} mL: a balance never goes below zero",
            field="quantity",
        )
        self.seq = seq
        self.key = key
        self.balance_ul = balance_ul


def check_entry(entry: Entry) -> None:
    """InputError for an entry that cannot stand on its own (a correction needs its reason and target)."""
    if entry.kind is EntryKind.ADJUSTMENT:
        if entry.quantity_ul == 0:
            raise InputError("an adjustment moves the balance", field="quantity")
        if not entry.reason.strip():
            raise InputError("an adjustment needs a reason", field="reason")
        return
    if entry.quantity_ul < 0:
        raise InputError("a quantity is not negative", field="quantity")
    if entry.kind is EntryKind.CORRECTION:
        if entry.reverses_seq is None:
            raise InputError("a correction names the entry it reverses", field="reverses_seq")
        if not entry.reason.strip():
            raise InputError("a correction needs a reason", field="reason")
    elif entry.quantity_ul == 0:
        raise InputError("a quantity is above zero", field="quantity")


def stock_delta_ul(entry: Entry, earlier: Mapping[int, Entry]) -> int:
    """How far the entry moves its stock balance (a correction: the reverse of the entry it reverses)."""
    if entry.kind is EntryKind.ADJUSTMENT:
        return entry.quantity_ul
    if entry.kind is EntryKind.CORRECTION:
        if entry.reverses_seq is None or entry.reverses_seq not in earlier:
            raise ConflictError(f"entry {entry.seq} reverses no earlier entry", field="reverses_seq")
        target = earlier[entry.reverses_seq]
        if target.kind is EntryKind.CORRECTION:
            raise ConflictError(
                "a correction is not itself reversed; enter the right entry again", field="reverses_seq"
            )
        return -stock_delta_ul(target, earlier)
    return STOCK_SIGN[entry.kind] * entry.quantity_ul


def fold_balances(entries: Iterable[Entry]) -> dict[StockKey, int]:
    """Each key's balance after `entries` in order; NegativeBalanceError at the first that goes below zero.

    A correction reverses its target at most once.
    """
    balances: dict[StockKey, int] = {}
    seen: dict[int, Entry] = {}
    reversed_seqs: set[int] = set()
    for entry in entries:
        check_entry(entry)
        if entry.kind is EntryKind.CORRECTION:
            assert entry.reverses_seq is not None  # check_entry ensured it
            if entry.reverses_seq in reversed_seqs:
                raise ConflictError(f"entry {entry.reverses_seq} is already reversed", field="reverses_seq")
            target = seen.get(entry.reverses_seq)
            if target is not None and target.key != entry.key:
                raise ConflictError("a correction is booked where its entry was", field="reverses_seq")
            reversed_seqs.add(entry.reverses_seq)
        balance = balances.get(entry.key, 0) + stock_delta_ul(entry, seen)
        if balance < 0:
            raise NegativeBalanceError(entry.seq, entry.key, balance)
        balances[entry.key] = balance
        seen[entry.seq] = entry
    return balances


def after(balance_ul: int, entry: Entry, earlier: Mapping[int, Entry]) -> int:
    """One key's balance after one more entry; NegativeBalanceError when it would go below zero."""
    balance = balance_ul + stock_delta_ul(entry, earlier)
    if balance < 0:
        raise NegativeBalanceError(entry.seq, entry.key, balance)
    return balance
