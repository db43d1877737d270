"""Cohort reports over the clinic's records or an imported cohort; importing and listing cohorts."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.outcomes import Cohort, CohortRecord, analyse_cohort
from ketaclinic.outcomes.aggregate_export import site_aggregate
from ketaclinic.outcomes.cohort_csv import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION
from ketaclinic.outcomes.regression import load_model_library
from ketaclinic.services.audit import audit
from ketaclinic.services.outcomes.facts import clinic_cohort
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import CohortRow, ImportedCohort

# The columns a stored cohort row and a cohort record share by name (the other two are mapped below).
SHARED_COLUMNS = tuple(
    c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c not in ("patient_id", "adverse_events")
)

CLINIC = "clinic"


def _daily_text(daily_nrs: tuple[tuple[int, float], ...]) -> str:
    """A record's daily NRS as stored: `day:nrs` pairs joined by `;` (repr keeps every float exact)."""
    return ";".join(f"{day}:{nrs!r}" for day, nrs in daily_nrs)


def _daily_pairs(text: str) -> tuple[tuple[int, float], ...]:
    pairs = (item.split(":") for item in text.split(";") if item)
    return tuple((int(day), float(nrs)) for day, nrs in pairs)


def _imported(session: Session, name: str) -> Cohort:
    cohort = session.execute(select(ImportedCohort).where(ImportedCohort.name == name)).scalar_one_or_none()
    if cohort is None:
        raise NotFoundError(f"no imported cohort named {name!r}", field="cohort")
    records = tuple(
        CohortRecord(
            patient_id=r.patient_ref,
            **{name: getattr(r, name) for name in SHARED_COLUMNS},
            adverse_events=tuple(e for e in r.adverse_events.split(";") if e),
            daily_nrs=_daily_pairs(r.daily_nrs),
        )
        for r in cohort.records
    )
    return Cohort(
        records=records,
        metadata=json.loads(cohort.metadata_json),
        adverse_events_recorded=cohort.adverse_events_recorded,
    )


def load_clinic_cohort(db: Database | None = None, *, source: str = CLINIC) -> Cohort:
    """The clinic's own patients (`source="clinic"`) or an imported cohort by name, as an outcomes.Cohort."""
    if db is None:
        from ketaclinic.settings import load_settings
        from ketaclinic.store.migrate import upgrade

        db = Database.from_url(load_settings().database_url)  # the environment's database, as the CLI uses
        upgrade(db.engine)
    with db.transaction() as session:
        return clinic_cohort(session) if source == CLINIC else _imported(session, source)


def cohort_report(
    db: Database,
    actor: Actor,
    *,
    source: str = CLINIC,
    definition_id: str = DEFAULT_DEFINITION,
    compare: tuple[str, list[str]] | None = None,
    alternative: str = "two-sided",
    export: str | None = None,
) -> dict[str, Any]:
    """The cohort analysis (analyse_cohort) of the clinic or an imported cohort; exports are audited."""
    require(actor, Permission.ANALYTICS_VIEW)
    # The model library loads while the database works on the cohort's queries, not after them.
    threading.Thread(target=load_model_library, name="model-library", daemon=True).start()
    with db.transaction() as session:
        cohort = clinic_cohort(session) if source == CLINIC else _imported(session, source)
        result = analyse_cohort(cohort, definition_id=definition_id, compare=compare, alternative=alternative)
        result["cohort"] = source
        if export is not None:
            require(actor, Permission.EXPORT)
            audit(
                session,
                actor,
                "export",
                "cohort",
                source,
                {
                    "format": {"old": None, "new": export},
                    "definition": {"old": None, "new": definition_id},
                    "count": {"old": None, "new": cohort.n},
                },
            )
        return result


def cohort_aggregate(
    db: Database,
    actor: Actor,
    *,
    site: str,
    source: str = CLINIC,
    definition_id: str = DEFAULT_DEFINITION,
    min_cell: int | None = None,
) -> dict[str, Any]:
    """The site's aggregate file (outcomes.aggregate_export) of the clinic's cohort or an imported one.

    Counts only, yet an export of patient data: it needs the export permission and is audited.
    """
    require(actor, Permission.ANALYTICS_VIEW)
    require(actor, Permission.EXPORT)
    with db.transaction() as session:
        cohort = clinic_cohort(session) if source == CLINIC else _imported(session, source)
        aggregate = site_aggregate(cohort, site=site, definition_id=definition_id, min_cell=min_cell)
        audit(
            session,
            actor,
            "export",
            "cohort",
            source,
            {
                "format": {"old": None, "new": "aggregate"},
                "definition": {"old": None, "new": definition_id},
                "count": {"old": None, "new": cohort.n},
                "site": {"old": None, "new": aggregate["site"]},
                "min_cell": {"old": None, "new": aggregate["suppression"]["min_cell"]},
                "suppressed": {"old": None, "new": len(aggregate["suppression"]["cells"])},
            },
        )
        return aggregate


@dataclass(frozen=True, slots=True)
class CohortInfo:
    """An imported cohort as listed."""

    name: str
    n: int
    synthetic: bool
    source: str
    title: str
    imported_by: str
    imported_at: datetime


def list_cohorts(db: Database, actor: Actor) -> list[CohortInfo]:
    """The imported cohorts, newest first."""
    require(actor, Permission.ANALYTICS_VIEW)
    with db.transaction() as session:
        rows = session.execute(select(ImportedCohort).order_by(ImportedCohort.id.desc())).scalars()
        return [
            CohortInfo(c.name, c.n, c.synthetic, c.source, c.title, c.imported_by, c.imported_at)
            for c in rows
        ]


def import_cohort(db: Database, actor: Actor, cohort: Cohort, *, name: str) -> CohortInfo:
    """Store a validated retrospective cohort under `name` (all rows or none), audited as an import."""
    require(actor, Permission.COHORT_IMPORT)
    name = name.strip()
    if not 1 <= len(name) <= 100 or name == CLINIC:
        raise InputError(f"a cohort name must be 1-100 characters and not {CLINIC!r}", field="name")
    with db.transaction() as session:
        if session.execute(select(ImportedCohort.id).where(ImportedCohort.name == name)).first():
            raise ConflictError(f"a cohort named {name!r} is already imported", field="name")
        row = ImportedCohort(
            name=name,
            source=str(cohort.metadata.get("source", "")),
            title=str(cohort.metadata.get("title", "")),
            synthetic=cohort.synthetic,
            metadata_json=canonical_json(cohort.metadata),
            imported_at=utcnow(),
            imported_by=actor.username,
            n=cohort.n,
            adverse_events_recorded=cohort.adverse_events_recorded,
        )
        row.records = [
            CohortRow(
                patient_ref=r.patient_id,
                **{name: getattr(r, name) for name in SHARED_COLUMNS},
                adverse_events=";".join(r.adverse_events),
                daily_nrs=_daily_text(r.daily_nrs),
            )
            for r in cohort.records
        ]
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "import",
            "cohort",
            row.id,
            {
                "name": {"old": None, "new": name},
                "count": {"old": None, "new": cohort.n},
                "synthetic": {"old": None, "new": cohort.synthetic},
                "adverse_events_recorded": {"old": None, "new": cohort.adverse_events_recorded},
            },
        )
        return CohortInfo(
            name, cohort.n, cohort.synthetic, row.source, row.title, row.imported_by, row.imported_at
        )
