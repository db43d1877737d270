"""The controlled-substance ledger, pure: products, schedules, entries, balances and reconciliation.

Works from a notebook with no database; the services keep the entries (append-only, keyed chain).
"""

from __future__ import annotations

from ketaclinic.ledger.entries import (
    STOCK_SIGN,
    Entry,
    EntryKind,
    NegativeBalanceError,
    StockKey,
    after,
    check_entry,
    fold_balances,
    stock_delta_ul,
)
from ketaclinic.ledger.inventory import CountDifference, CountMethod, count_differences, count_method
from ketaclinic.ledger.jurisdictions import (
    DEFAULT_JURISDICTION,
    InventoryRule,
    Jurisdiction,
    ScheduleEntry,
    load_jurisdiction,
)
from ketaclinic.ledger.policy import LedgerPolicy, load_ledger_policy
from ketaclinic.ledger.products import (
    CONTROLLED_DRUGS,
    Form,
    Ndc,
    Product,
    check_dea_registration,
    make_product,
    ml_to_ul,
    parse_ndc,
    product_drug,
)
from ketaclinic.ledger.reconciliation import (
    Reconciliation,
    check_concentration,
    prepared_concentration_mg_ml,
    reconcile,
)

__all__ = [
    "CONTROLLED_DRUGS",
    "DEFAULT_JURISDICTION",
    "STOCK_SIGN",
    "CountDifference",
    "CountMethod",
    "Entry",
    "EntryKind",
    "Form",
    "InventoryRule",
    "Jurisdiction",
    "LedgerPolicy",
    "Ndc",
    "NegativeBalanceError",
    "Product",
    "Reconciliation",
    "ScheduleEntry",
    "StockKey",
    "after",
    "check_concentration",
    "check_dea_registration",
    "check_entry",
    "count_differences",
    "count_method",
    "fold_balances",
    "load_jurisdiction",
    "load_ledger_policy",
    "make_product",
    "ml_to_ul",
    "parse_ndc",
    "prepared_concentration_mg_ml",
    "product_drug",
    "reconcile",
    "stock_delta_ul",
]
