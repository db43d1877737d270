"""Shared pieces of the ledger's use cases: the clinic's policy, stock movements, witnesses, input types."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.ledger import (
    Entry,
    EntryKind,
    Jurisdiction,
    LedgerPolicy,
    NegativeBalanceError,
    Product,
    StockKey,
    after,
    check_dea_registration,
    check_entry,
    load_jurisdiction,
    load_ledger_policy,
    make_product,
)
from ketaclinic.ledger.policy import POLICY_FILE
from ketaclinic.services import accounts
from ketaclinic.services.ledger.chain import Movement, append_entry
from ketaclinic.services.permissions import Actor, Permission
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import (
    LedgerBalance,
    LedgerContainer,
    LedgerEntry,
    LedgerLocation,
    LedgerProduct,
)

Config = Settings | Path | None
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Lot = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Method = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


def _config_dir(config: Config) -> Path | None:
    config_dir = config.config_dir if isinstance(config, Settings) else config
    return None if config_dir is None else Path(config_dir)


def ledger_policy(config: Config) -> LedgerPolicy:
    """The clinic's ledger policy: shipped defaults with its config directory's ledger_policy.toml."""
    config_dir = _config_dir(config)
    return load_ledger_policy(None if config_dir is None else config_dir / POLICY_FILE)


def jurisdiction(config: Config) -> Jurisdiction:
    """The jurisdiction the clinic's policy names (its own rule file if it ships one)."""
    return load_jurisdiction(ledger_policy(config).jurisdiction, _config_dir(config))


def product_of(row: LedgerProduct) -> Product:
    """The pure product of a stored one."""
    return make_product(row.drug, row.form, row.strength_mg_ml, row.container_ml, row.ndc)


def product_label(row: LedgerProduct) -> str:
    """How a stored product reads on a list: its label, then its note (e.g. a synthetic demo NDC)."""
    label = product_of(row).label
    return f"{label} · {row.note}" if row.note else label


def product_row(session: Session, product_id: int) -> LedgerProduct:
    """A stored product, or NotFoundError naming `product_id`."""
    row = session.get(LedgerProduct, product_id)
    if row is None:
        raise NotFoundError(f"no product {product_id}", field="product_id")
    return row


def location_row(session: Session, location_id: int) -> LedgerLocation:
    """A storage location, or NotFoundError naming `location_id`."""
    row = session.get(LedgerLocation, location_id)
    if row is None:
        raise NotFoundError(f"no storage location {location_id}", field="location_id")
    return row


def container_row(session: Session, container_id: int, *, lock: bool = True) -> LedgerContainer:
    """A container (locked for update), or NotFoundError naming `container_ids`."""
    query = select(LedgerContainer).where(LedgerContainer.id == container_id)
    row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no container {container_id}", field="container_ids")
    return row


def is_quarantined(expiry: date, today: date) -> bool:
    """Expired stock is quarantined: it may only be returned or destroyed."""
    return expiry < today


def earlier_entry(session: Session, seq: int) -> Entry:
    """The pure entry of a stored one (for reversing it)."""
    row = session.get(LedgerEntry, seq)
    if row is None:
        raise NotFoundError(f"no ledger entry {seq}", field="seq")
    return pure_entry(row)


def pure_entry(row: LedgerEntry) -> Entry:
    """A stored entry as the pure ledger reads it."""
    return Entry(
        row.seq,
        EntryKind(row.kind),
        stock_key(row),
        row.quantity_ul,
        row.reverses_seq,
        row.reason,
    )


class Stocked(Protocol):
    """Whatever names one balance: a container, a preparation, an entry, an input's line."""

    @property
    def product_id(self) -> int: ...
    @property
    def lot(self) -> str: ...
    @property
    def location_id(self) -> int: ...


def stock_key(row: Stocked) -> StockKey:
    """The balance a container, a preparation or an input's line belongs to."""
    return StockKey(row.product_id, row.lot, row.location_id)


def _balance_of(key: StockKey) -> tuple[ColumnElement[bool], ...]:
    """The WHERE of a key's balance row."""
    return (
        LedgerBalance.product_id == key.product_id,
        LedgerBalance.lot == key.lot,
        LedgerBalance.location_id == key.location_id,
    )


def move_stock(session: Session, actor: Actor, move: Movement, *, expiry: date | None = None) -> LedgerEntry:
    """Book one movement on its balance row (locked, compare-and-set on its version) and append its entry.

    The pure ledger decides the new balance; below zero is a NegativeBalanceError (409), and nothing is
    written. Of two nurses drawing the last container, the second waits on the row lock and then finds
    the balance already spent.
    """
    balance = session.execute(
        select(LedgerBalance).where(*_balance_of(move.key)).with_for_update()
    ).scalar_one_or_none()
    if balance is None:
        if expiry is None:
            raise NotFoundError(
                f"no stock of product {move.key.product_id} lot {move.key.lot}"
                f" at location {move.key.location_id}",
                field="lot",
            )
        balance = LedgerBalance(
            product_id=move.key.product_id,
            lot=move.key.lot,
            location_id=move.key.location_id,
            expiry=expiry,
            balance_ul=0,
            version=1,
        )
        session.add(balance)
        session.flush()
    pure = Entry(0, move.kind, move.key, move.quantity_ul, move.reverses_seq, move.reason)
    check_entry(pure)
    earlier = {move.reverses_seq: earlier_entry(session, move.reverses_seq)} if move.reverses_seq else {}
    new_balance = after(balance.balance_ul, pure, earlier)
    read_version, old_balance = balance.version, balance.balance_ul
    moved = session.execute(
        update(LedgerBalance)
        .where(LedgerBalance.id == balance.id, LedgerBalance.version == read_version)
        .values(balance_ul=new_balance, version=read_version + 1)
        .execution_options(synchronize_session="fetch")
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            "the stock changed while this was recorded; look again and retry", field="version"
        )
    booked = replace(move, stock_delta_ul=new_balance - old_balance, balance_after_ul=new_balance)
    return append_entry(session, actor, booked)


def book(session: Session, actor: Actor, move: Movement) -> LedgerEntry:
    """Append an entry that moves no stock (administration, waste) with its key's current balance."""
    current = session.execute(select(LedgerBalance.balance_ul).where(*_balance_of(move.key))).scalar_one()
    check_entry(Entry(0, move.kind, move.key, move.quantity_ul, move.reverses_seq, move.reason))
    return append_entry(session, actor, replace(move, stock_delta_ul=0, balance_after_ul=int(current)))


def take_from_container(container: LedgerContainer, quantity_ul: int, now: Any) -> None:
    """Lower a container's remaining volume (opening it); ConflictError when it holds less."""
    if container.state not in ("sealed", "open"):
        raise ConflictError(f"container {container.id} is {container.state}", field="container_ids")
    if quantity_ul > container.remaining_ul:
        raise NegativeBalanceError(0, stock_key(container), container.remaining_ul - quantity_ul)
    container.remaining_ul -= quantity_ul
    if container.opened_at is None:
        container.opened_at = now
    container.state = "empty" if container.remaining_ul == 0 else "open"


WITNESS_ADDRESS = "witness confirmation"


def confirm_witness(
    db: Database, actor: Actor, username: str, password: str, *, field: str = "witness"
) -> Actor:
    """A second clinical user confirms with their own password now (login throttling applies).

    The check runs in its own transaction, before the write it witnesses, so a failed attempt counts
    toward the witness's back-off even though the write is refused.
    """
    if not username.strip():
        raise InputError("a witness is required by the clinic's policy", field=field)
    try:
        # One back-off per witness for every bench they are asked from: a guessed witness password
        # slows down witnessing, never the witness's own login at their own address.
        witness = accounts.authenticate(db, username, password, address=WITNESS_ADDRESS)
    except accounts.LoginFailedError as failed:
        wait = f"; try again in {failed.retry_after_s} s" if failed.retry_after_s else ""
        raise InputError(
            f"the witness's username or password was not accepted{wait}", field=f"{field}_password"
        ) from None
    if witness.username == actor.username:
        raise InputError("the witness is another person than the one recording", field=field)
    if not witness.can(Permission.LEDGER_WITNESS):
        raise InputError(f"{witness.username} is not a clinical user and cannot witness", field=field)
    return witness


def policy_witness(
    db: Database, actor: Actor, policy: LedgerPolicy, username: str, password: str
) -> str | None:
    """The witness, confirmed now, where the clinic's policy asks for one or one is named; else None."""
    if policy.witness_required or username:
        return confirm_witness(db, actor, username, password).username
    return None


def _registration_number(value: str) -> str:
    """A checked DEA registration number inside a model (the validation error names the field once)."""
    try:
        return check_dea_registration(value)
    except InputError as bad:
        raise ValueError(bad.message) from None


# A DEA registration number (two letters, seven digits, its check digit), upper-cased.
Registration = Annotated[Name, AfterValidator(_registration_number)]


def details(**values: Any) -> dict[str, Any]:
    """Entry details without empty values."""
    return {k: v for k, v in values.items() if v not in (None, "", [])}
