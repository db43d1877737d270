"""`audit verify --records`: every audited record must read as the audit trail last recorded it.

A row edited in SQL behind the application's back leaves the hash chain intact; comparing each
record with the `new` values of its events names it. The fields compared are the ones the owning
service records: its own `audited_fields` where it has one, else the columns its events name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from ketaclinic.services.patients.registry import audited_fields as patient_fields
from ketaclinic.services.screening.consent import audited_fields as consent_fields
from ketaclinic.services.screening.screenings import audited_fields as screening_fields
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import Base
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.screening import Consent, Screening
from ketaclinic.store.tables.sessions import InfusionSession, SessionObservation

# Events that only read a record: they record no values, so they neither create nor change it.
READ_ACTIONS = frozenset({"view"})
SESSION_ENTITY = "infusion_session"
# A record's version is a concurrency token, not a value anyone reads clinically: edits audit its step,
# but status changes (a signature, an approval) move it without naming it, so it is not compared.
NOT_COMPARED = frozenset({"version"})


@dataclass(frozen=True, slots=True)
class AuditedRecord:
    """A kind of record the audit trail follows, and how its service reads a row's audited fields."""

    entity: str
    table: type[Base]
    fields: Callable[[Any], dict[str, Any]] | None = None  # None: the row's columns by name

    def current(self, row: Any) -> dict[str, Any]:
        """The row's audited values, as JSON would carry them."""
        if self.fields is not None:
            values = self.fields(row)
        else:
            values = {attr.key: getattr(row, attr.key) for attr in inspect(self.table).column_attrs}
        loaded: dict[str, Any] = json.loads(canonical_json(values))
        return loaded


AUDITED_RECORDS = (
    AuditedRecord("patient", Patient, patient_fields),
    AuditedRecord("screening", Screening, screening_fields),
    AuditedRecord("consent", Consent, consent_fields),
    AuditedRecord("dose_plan", DosePlanRow),
    AuditedRecord(SESSION_ENTITY, InfusionSession),
)


@dataclass(frozen=True, slots=True)
class RecordMismatch:
    """One record that differs from what the audit trail last recorded for it."""

    entity: str
    entity_id: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entity} {self.entity_id}: {self.field} {self.problem}"


def _recorded(session: Session, entities: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The last `new` value of every field each record's events name, oldest event first."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    query = (
        select(AuditEvent.entity, AuditEvent.entity_id, AuditEvent.action, AuditEvent.changes_json)
        .where(AuditEvent.entity.in_(entities))
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=2000)
    )
    for entity, entity_id, action, changes_json in session.execute(query):
        if action in READ_ACTIONS:
            continue
        fields = last.setdefault((entity, entity_id), {})
        for name, change in json.loads(changes_json).items():
            if isinstance(change, dict) and "new" in change:
                fields[name] = change["new"]
    return last


def _readings_recorded(session: Session) -> dict[int, dict[str, Any]]:
    """Each reading's values as its charting event (or its check-in, for the baseline) recorded them."""
    readings: dict[int, dict[str, Any]] = {}
    query = (
        select(AuditEvent.changes_json)
        .where(AuditEvent.entity == SESSION_ENTITY)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=2000)
    )
    for (changes_json,) in session.execute(query):
        changes = json.loads(changes_json)
        charted = changes.get("observation_id", {}).get("new")
        if charted is not None and "values" in changes:
            readings[int(charted)] = changes["values"]["new"]
        check_in = changes.get("check_in", {}).get("new") or {}
        if check_in.get("baseline_observation_id") is not None:
            readings[int(check_in["baseline_observation_id"])] = check_in
    return readings


def _compare(
    entity: str, entity_id: str, current: dict[str, Any], recorded: dict[str, Any]
) -> Iterator[RecordMismatch]:
    for name, value in recorded.items():
        if name in current and name not in NOT_COMPARED and current[name] != value:
            yield RecordMismatch(
                entity, entity_id, name, f"is {current[name]!r} but the audit trail last recorded {value!r}"
            )


def _record_mismatches(session: Session) -> Iterator[RecordMismatch]:
    recorded = _recorded(session, {kind.entity for kind in AUDITED_RECORDS})
    for kind in AUDITED_RECORDS:
        rows: Iterator[Any] = iter(session.execute(select(kind.table)).scalars())
        for row in rows:
            entity_id = str(row.id)  # every audited table's key is `id`
            fields = recorded.get((kind.entity, entity_id))
            if fields is None:
                yield RecordMismatch(
                    kind.entity, entity_id, "record", "has no audit event (written behind the app)"
                )
                continue
            yield from _compare(kind.entity, entity_id, kind.current(row), fields)


def _reading_mismatches(session: Session) -> Iterator[RecordMismatch]:
    recorded = _readings_recorded(session)
    for row in session.execute(select(SessionObservation)).scalars():
        fields = recorded.get(row.id)
        if fields is None:
            yield RecordMismatch(
                "reading", str(row.id), "record", "has no audit event (written behind the app)"
            )
            continue
        values = json.loads(row.values_json)
        # The reading's own values are what the event must have recorded (a check-in records more).
        yield from _compare("reading", str(row.id), values, {k: fields.get(k) for k in values})


def check_records(db: Database) -> list[RecordMismatch]:
    """Every audited record (patients, screenings, consents, plans, sessions, readings) that differs."""
    with db.read() as session:
        return [*_record_mismatches(session), *_reading_mismatches(session)]
