"""Containers leaving stock other than by a preparation: returned to a reverse distributor, destroyed on site
(witnessed), or lost or stolen (the DEA Form 106 facts)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import EntryKind
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.chain import Movement
from ketaclinic.services.ledger.common import (
    Config,
    Name,
    Reason,
    Registration,
    Text,
    container_row,
    details,
    ledger_policy,
    move_stock,
    policy_witness,
    product_of,
    product_row,
    stock_key,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database


class DisposalIn(BaseModel):
    """Containers leaving stock other than by a preparation: a return, a destruction or a loss."""

    model_config = ConfigDict(extra="forbid")
    container_ids: list[RecordRef] = Field(min_length=1, max_length=200)
    reason: Text = ""


class ReturnIn(DisposalIn):
    """Containers returned to a reverse distributor."""

    reverse_distributor: Name
    reverse_distributor_registration: Registration


class DestroyIn(DisposalIn):
    """Containers destroyed on site, with a witness who confirms with their password."""

    method: Name
    witness: str = ""
    witness_password: str = ""


LossKind = Literal["theft", "loss", "lost_in_transit", "break_or_spill", "other"]


class LossIn(DisposalIn):
    """A loss or theft (the facts DEA Form 106 asks for)."""

    loss_kind: LossKind
    discovered_on: date
    police_notified: bool = False
    police_report: Text = ""
    description: Reason


class DisposalOut(BaseModel):
    """The entries a disposal wrote."""

    entry_seqs: list[int]
    quantity_ml: float
    quantity_mg: float


def _dispose(
    db: Database,
    actor: Actor,
    data: DisposalIn,
    kind: EntryKind,
    facts: dict[str, object],
    *,
    witness: str | None,
) -> DisposalOut:
    """Take each container's remaining volume out of stock (allowed for quarantined stock too)."""
    seqs: list[int] = []
    total_ul, total_mg = 0, 0.0
    with db.transaction() as session:
        for container_id in dict.fromkeys(data.container_ids):
            container = container_row(session, container_id)
            if container.state not in ("sealed", "open"):
                raise ConflictError(
                    f"container {container.id} is already {container.state}", field="container_ids"
                )
            if container.remaining_ul == 0:
                raise ConflictError(f"container {container.id} is empty", field="container_ids")
            product = product_of(product_row(session, container.product_id))
            quantity = container.remaining_ul
            entry = move_stock(
                session,
                actor,
                Movement(
                    kind=kind,
                    key=stock_key(container),
                    quantity_ul=quantity,
                    container_id=container.id,
                    witness=witness,
                    reason=data.reason,
                    details=details(**facts, was=container.state),
                ),
            )
            container.remaining_ul = 0
            container.state = {EntryKind.RETURN: "returned", EntryKind.DESTRUCTION: "destroyed"}.get(
                kind, "lost"
            )
            seqs.append(entry.seq)
            total_ul += quantity
            total_mg += product.mg_of(quantity)
        audit(
            session,
            actor,
            kind.value,
            "ledger_container",
            ",".join(str(c) for c in dict.fromkeys(data.container_ids)),
            new_values(ledger_entries=seqs, quantity_ml=total_ul / 1000, **facts)
            | (new_values(witness=witness) if witness else {}),
            data.reason,
        )
    return DisposalOut(entry_seqs=seqs, quantity_ml=total_ul / 1000, quantity_mg=round(total_mg, 6))


def return_stock(db: Database, actor: Actor, data: ReturnIn) -> DisposalOut:
    """Return containers to a reverse distributor."""
    require(actor, Permission.LEDGER_RECEIVE)
    facts: dict[str, object] = {
        "reverse_distributor": data.reverse_distributor,
        "reverse_distributor_registration": data.reverse_distributor_registration,
    }
    return _dispose(db, actor, data, EntryKind.RETURN, facts, witness=None)


def destroy(db: Database, actor: Actor, data: DestroyIn, *, config: Config) -> DisposalOut:
    """Destroy containers on site, witnessed (the witness confirms with their own password)."""
    require(actor, Permission.LEDGER_RECEIVE)
    witness = policy_witness(db, actor, ledger_policy(config), data.witness, data.witness_password)
    return _dispose(db, actor, data, EntryKind.DESTRUCTION, {"method": data.method}, witness=witness)


def report_loss(db: Database, actor: Actor, data: LossIn) -> DisposalOut:
    """Record a loss or theft of containers (the DEA Form 106 facts in the entry)."""
    require(actor, Permission.LEDGER_RECEIVE)
    if data.discovered_on > utcnow().date():
        raise InputError("is in the future", field="discovered_on")
    if data.police_notified and not data.police_report:
        raise InputError("give the police report number or contact", field="police_report")
    facts: dict[str, object] = {
        "loss_kind": data.loss_kind,
        "discovered_on": data.discovered_on.isoformat(),
        "police_notified": data.police_notified,
        "police_report": data.police_report,
        "description": data.description,
        "form": "DEA Form 106",
    }
    return _dispose(db, actor, data, EntryKind.LOSS, facts, witness=None)
