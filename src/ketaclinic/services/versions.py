"""Edits that never overwrite each other: an edit names the version it read; a stale one is refused.

The audit trail tells what changed since: every edit's audit event carries the record's version
(old and new), so the events after the one that produced the version the editor read are the
changes the editor has not seen. Each changed field is reported with the value now stored, who
changed it and when.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import FieldChange, InputError, StaleVersionError
from ketaclinic.services.audit import audit
from ketaclinic.services.permissions import Actor
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.versioning import Versioned, bump

# What every edit input names: the version of the record its editor read (a missing one is a 422).
ReadVersion = Annotated[int, Field(ge=1, description="the record's version the editor read")]

__all__ = ["audited_edit", "bump", "changes_since", "check_version", "version_change"]

VERSION = "version"


def _version_step(changes: Mapping[str, Any]) -> tuple[int | None, int | None]:
    step = changes.get(VERSION)
    if not isinstance(step, Mapping):
        return None, None
    return step.get("old"), step.get("new")


def changes_since(
    session: Session, entity: str, entity_id: int | str, read_version: int, current: Mapping[str, Any]
) -> tuple[FieldChange, ...]:
    """The fields changed after `read_version` per the audit trail, each with its value in `current`.

    A record older than versioning has no event naming the version read: then every change after the
    first event whose version moved from `read_version` or later counts.
    """
    events = list(
        session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.entity == entity,
                AuditEvent.entity_id == str(entity_id),
                AuditEvent.action != "view",
            )
            .order_by(AuditEvent.seq)
        ).scalars()
    )
    steps = [(event, json.loads(event.changes_json)) for event in events]
    start = next(
        (i + 1 for i in reversed(range(len(steps))) if _version_step(steps[i][1])[1] == read_version), None
    )
    if start is None:
        moved = [i for i, (_event, c) in enumerate(steps) if (_version_step(c)[0] or 0) >= read_version]
        start = moved[0] if moved else len(steps)
    latest: dict[str, FieldChange] = {}
    for event, changes in steps[start:]:
        for field, new in _changed_fields(changes, current):
            latest.pop(field, None)  # re-inserted last: the list reads in the order of the latest changes
            latest[field] = FieldChange(field, new, event.actor, event.occurred_at)
    return tuple(latest.values())


def _changed_fields(changes: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field, value now stored) per audited change; a changed mapping (an intake) per changed key."""
    found: list[tuple[str, Any]] = []
    for field, change in changes.items():
        if field == VERSION or not isinstance(change, Mapping):
            continue
        old, new = change.get("old"), change.get("new")
        now = current.get(field, new)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            stored = now if isinstance(now, Mapping) else new
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            found.extend((f"{field}.{key}", stored.get(key)) for key in keys)
        else:
            found.append((field, now))
    return found


def check_version(
    session: Session,
    entity: str,
    row: Versioned,
    entity_id: int | str,
    read_version: int,
    current: Mapping[str, Any],
    *,
    since: Callable[[], tuple[FieldChange, ...]] | None = None,
) -> None:
    """Refuse an edit based on a version other than the row's; the error names what changed since.

    `since` names the changes where the audit trail files them under another record (a measurement's
    events are the patient's).
    """
    if read_version > row.version:
        raise InputError(
            f"this {entity} has no version {read_version} (it is at {row.version})", field=VERSION
        )
    if row.version != read_version:
        raise StaleVersionError(
            entity,
            read_version=read_version,
            current_version=row.version,
            changes=since() if since else changes_since(session, entity, entity_id, read_version, current),
        )


def version_change(read_version: int | None, row: Versioned) -> dict[str, dict[str, int | None]]:
    """The audited step of a record's version (after the flush that wrote it; None when created)."""
    return {VERSION: {"old": read_version, "new": row.version}}


def audited_edit(
    session: Session,
    actor: Actor,
    row: Versioned,
    entity: str,
    action: str,
    changes: Mapping[str, Any],
    read_version: int,
    reason: str = "",
) -> None:
    """Write an edit: the record's next version, then its audit event carrying the version step."""
    if row.version == read_version:  # not moved by an earlier flush of this edit; also for child rows only
        bump(row)
    session.flush()
    row_id: int = row.id  # type: ignore[attr-defined]  # every versioned table's key is `id`
    audit(session, actor, action, entity, row_id, dict(changes) | version_change(read_version, row), reason)
