"""Stock counts by two people: each line counted against the ledger's balance; differences stay open,
with a clinic alert to every physician and nurse, until a physician or admin reviews them (booking an
adjustment where one is due)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import CountMethod, StockKey, count_differences, count_method, ml_to_ul
from ketaclinic.monitoring.rules import ledger_count_findings
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.common import (
    Config,
    Reason,
    Text,
    confirm_witness,
    jurisdiction,
    location_row,
    product_of,
    product_row,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.alert_raising import clinic_owner, raise_findings
from ketaclinic.services.sessions.alerts import resolve_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerBalance, LedgerContainer, LedgerCount
from ketaclinic.store.tables.sessions import SessionAlert

CountKind = Literal["shift", "daily", "biennial", "initial"]


class CountLineIn(BaseModel):
    """What was found of one product's lot at the location (mL)."""

    model_config = ConfigDict(extra="forbid")
    product_id: RecordRef
    lot: str = Field(min_length=1, max_length=40)
    counted_ml: float = Field(ge=0, le=100000)


class CountIn(BaseModel):
    """A count at one location by the nurse and a second counter who confirms with their password."""

    model_config = ConfigDict(extra="forbid")
    location_id: RecordRef
    kind: CountKind = "daily"
    lines: list[CountLineIn] = Field(max_length=500)
    second_counter: str
    second_counter_password: str
    note: Text = ""


class CountLineOut(BaseModel):
    """One counted line beside the ledger's balance, with how it may be counted."""

    product_id: RecordRef
    lot: str
    expected_ml: float
    counted_ml: float
    difference_ml: float
    method: str


class CountOut(BaseModel):
    """A recorded count."""

    id: int
    location_id: RecordRef
    kind: str
    counted_by: str
    second_counter: str
    counted_at: datetime
    lines: list[CountLineOut]
    differences: int
    reviewed_by: str | None
    review_note: str | None


def count_out(row: LedgerCount) -> CountOut:
    """Output model of a count."""
    return CountOut(
        id=row.id,
        location_id=row.location_id,
        kind=row.kind,
        counted_by=row.counted_by,
        second_counter=row.second_counter,
        counted_at=row.counted_at,
        lines=[CountLineOut(**line) for line in json.loads(row.lines_json)],
        differences=row.differences,
        reviewed_by=row.reviewed_by,
        review_note=row.review_note,
    )


def record_count(db: Database, actor: Actor, data: CountIn, *, config: Config) -> CountOut:
    """Record a two-person count; every line that differs from the balance is kept open for review."""
    require(actor, Permission.LEDGER_COUNT)
    second = confirm_witness(
        db, actor, data.second_counter, data.second_counter_password, field="second_counter"
    )
    rules = jurisdiction(config)
    with db.transaction() as session:
        expected = {
            StockKey(b.product_id, b.lot, b.location_id): b.balance_ul
            for b in session.execute(
                select(LedgerBalance).where(LedgerBalance.location_id == data.location_id).with_for_update()
            ).scalars()
        }
        counted: dict[StockKey, int] = {}
        for index, line in enumerate(data.lines):
            key = StockKey(line.product_id, line.lot, data.location_id)
            if key in counted:
                raise InputError(
                    f"line {index + 1} counts product {line.product_id} lot {line.lot} twice", field="lines"
                )
            counted[key] = ml_to_ul(line.counted_ml)
        if not expected and not counted:
            raise InputError("nothing is stocked at this location and nothing was counted", field="lines")
        opened = {
            (c.product_id, c.lot)
            for c in session.execute(
                select(LedgerContainer).where(
                    LedgerContainer.location_id == data.location_id, LedgerContainer.state == "open"
                )
            ).scalars()
        }
        lines = []
        for key in sorted(set(expected) | set(counted)):
            product = product_row(session, key.product_id)
            method = count_method(
                rules.inventory,
                rules.schedule_of(product.drug).schedule,
                opened=(key.product_id, key.lot) in opened,
                units_per_container=None,
            )
            want, got = expected.get(key, 0), counted.get(key, 0)
            lines.append(
                {
                    "product_id": key.product_id,
                    "lot": key.lot,
                    "expected_ml": want / 1000,
                    "counted_ml": got / 1000,
                    "difference_ml": (got - want) / 1000,
                    "method": method.value if method is not CountMethod.SEALED else CountMethod.EXACT.value,
                }
            )
        differences = count_differences(expected, counted)
        row = LedgerCount(
            location_id=data.location_id,
            kind=data.kind,
            counted_by=actor.username,
            second_counter=second.username,
            counted_at=utcnow(),
            lines_json=json.dumps(lines),
            differences=len(differences),
            note=data.note,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "count",
            "ledger_count",
            row.id,
            new_values(
                kind=data.kind,
                second_counter=second.username,
                differences=[line for line in lines if line["difference_ml"]],
            ),
        )
        _raise_count_alert(session, actor, row, lines)
        return count_out(row)


def _count_trigger(count_id: int) -> str:
    """The trigger key of a count's clinic alert (the shipped rule's, one per count)."""
    return f"ledger_count_difference@count:{count_id}"


def _raise_count_alert(session: Session, actor: Actor, row: LedgerCount, lines: list[dict[str, Any]]) -> None:
    """A count that differs from the ledger raises a clinic alert (no patient) for the physicians."""
    differing = [line for line in lines if line["difference_ml"]]
    if not differing:
        return
    described = "; ".join(
        f"{product_of(product_row(session, line['product_id'])).drug} lot {line['lot']}:"
        f" {line['expected_ml']:g} mL expected, {line['counted_ml']:g} mL found"
        f" ({line['difference_ml']:+g} mL)"
        for line in differing
    )
    where = location_row(session, row.location_id).name
    findings = ledger_count_findings(
        row.id, described=f"{where}, {len(differing)} line(s) differ: {described}", differences=len(differing)
    )
    raise_findings(session, actor, clinic_owner(_count_trigger(row.id)), findings)


def list_counts(db: Database, actor: Actor, *, open_only: bool = False, limit: int = 100) -> list[CountOut]:
    """Counts, newest first (open ones: differences not yet reviewed)."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        query = (
            select(LedgerCount).order_by(LedgerCount.counted_at.desc(), LedgerCount.id.desc()).limit(limit)
        )
        if open_only:
            query = query.where(LedgerCount.differences > 0, LedgerCount.reviewed_by.is_(None))
        return [count_out(r) for r in session.execute(query).scalars()]


class ReviewIn(BaseModel):
    """A physician's or admin's review of a count's differences."""

    model_config = ConfigDict(extra="forbid")
    note: Reason


def review_count(db: Database, actor: Actor, count_id: int, data: ReviewIn) -> CountOut:
    """Close a count's differences with a note (an adjustment, if one is due, is booked separately)."""
    require(actor, Permission.LEDGER_ADJUST)
    with db.transaction() as session:
        row = session.execute(
            select(LedgerCount).where(LedgerCount.id == count_id).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no count {count_id}", field="count_id")
        if row.differences == 0 or row.reviewed_by is not None:
            raise ConflictError("this count has no open differences", field="count_id")
        row.reviewed_by, row.reviewed_at, row.review_note = actor.username, utcnow(), data.note
        audit(
            session,
            actor,
            "review_count",
            "ledger_count",
            row.id,
            new_values(reviewed_by=actor.username),
            data.note,
        )
        alert = session.execute(
            select(SessionAlert)
            .where(
                SessionAlert.session_id.is_(None),
                SessionAlert.patient_id.is_(None),
                SessionAlert.trigger_key == _count_trigger(row.id),
                SessionAlert.state != "resolved",
            )
            .with_for_update()
        ).scalar_one_or_none()
        if alert is not None:
            resolve_row(session, actor, alert, f"count {row.id} reviewed: {data.note}", expected=alert.state)
        return count_out(row)
