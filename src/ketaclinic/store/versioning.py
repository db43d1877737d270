"""Record versions: an integer bumped on every write, compared in the UPDATE's WHERE (compare-and-set).

A table mixes in `Versioned`; SQLAlchemy then writes `UPDATE ... SET version = n + 1 WHERE id = ? AND
version = n` and raises StaleDataError when no row matched, so two writers that read the same version
cannot both win. Before each flush every versioned row whose own columns changed gets the next
version; a service that changes only a record's child rows (a patient's diagnoses) calls `bump`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, event, inspect
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column


class Versioned:
    """Mixin: a `version` column (1 when created) that every write moves on by one."""

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 (a declared attribute of the class)
        # The generator is ours (bump below): it also counts writes that changed only child rows.
        return {"version_id_col": cls.__table__.c.version, "version_id_generator": False}  # type: ignore[attr-defined]


def bump(row: Versioned) -> None:
    """Give `row` the next version in this flush (once; a row already bumped keeps its new version)."""
    history = inspect(row).attrs.version.history
    if history.added:
        return
    read = (history.unchanged or history.deleted or [None])[0]
    row.version = 1 if read is None else int(read) + 1


@event.listens_for(Session, "before_flush")
def _bump_changed(session: Session, _context: Any, _instances: Any) -> None:
    for row in list(session.dirty):
        # Child collections are left out: a new measurement is its own record, not an edit of the patient.
        if isinstance(row, Versioned) and session.is_modified(row, include_collections=False):
            bump(row)
