"""Patient-reported outcomes: scoring, storage against a follow-up item (raising their alerts), listing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import IsoDateTime, RecordRef
from ketaclinic.monitoring import AlertFinding
from ketaclinic.monitoring.answer_rules import answer_findings
from ketaclinic.outcomes import (
    nrs_rating,
    score_bpi,
    score_gad7,
    score_pgic,
    score_phq9,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.outcomes.courses import course_row
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import SYSTEM, Actor, Permission, require
from ketaclinic.services.sessions.alert_raising import AlertOwner, raise_findings
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import is_future, utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import FollowupItem, ProResponse

Timepoint = Literal["baseline", "after_session", "after_series", "unscheduled"]


class NrsIn(BaseModel):
    """Pain NRS answers (0-10) over one recall period."""

    model_config = ConfigDict(extra="forbid")
    recall: Literal["now", "24h", "7d"] = "24h"
    now: float | None = None
    average: float | None = None
    worst: float | None = None


class BpiIn(BaseModel):
    """BPI short form answers by item name."""

    model_config = ConfigDict(extra="forbid")
    severity: dict[str, float | None] = Field(default_factory=dict)
    interference: dict[str, float | None] = Field(default_factory=dict)


class Answers(BaseModel):
    """The questionnaire answers a patient or staff member gives (each instrument optional)."""

    model_config = ConfigDict(extra="forbid")
    nrs: NrsIn | None = None
    pgic: int | None = None
    bpi: BpiIn | None = None
    phq9: list[int] | None = None
    gad7: list[int] | None = None


class ProIn(Answers):
    """A PRO entered by staff: the answers plus when and for which course or follow-up item."""

    course_id: RecordRef | None = None
    followup_item_id: RecordRef | None = None
    timepoint: Timepoint = "unscheduled"
    weeks_after_series: int | None = Field(default=None, ge=0, le=520)
    collected_at: IsoDateTime | None = None


class ProOut(BaseModel):
    """A stored PRO with its scores and codes."""

    id: int
    patient_id: int
    course_id: int | None
    followup_item_id: int | None
    timepoint: str
    weeks_after_series: int | None
    collected_at: datetime
    via: str
    pain_nrs: float | None
    scores: dict[str, Any]
    answers: dict[str, Any]  # every item answer, in the shape they were given (Answers)


def score_answers(answers: Answers) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score every given instrument with the pure scorers: (column values, JSON document with LOINC codes)."""
    columns: dict[str, Any] = {}
    document: dict[str, Any] = {}
    if answers.nrs is not None:
        ratings = {
            kind: nrs_rating(value, kind=kind, recall=answers.nrs.recall)
            for kind in ("now", "average", "worst")
            if (value := getattr(answers.nrs, kind)) is not None
        }
        if not ratings:
            raise InputError("give at least one pain rating (now, average or worst)", field="nrs")
        for kind, rating in ratings.items():
            columns[f"nrs_{kind}"] = rating.value
        columns["nrs_recall"] = answers.nrs.recall
        primary = ratings.get("average") or ratings.get("now") or ratings["worst"]
        columns["pain_nrs"] = primary.value
        document["nrs"] = {
            "loinc": primary.loinc,
            "recall": answers.nrs.recall,
            **{k: r.value for k, r in ratings.items()},
        }
    if answers.pgic is not None:
        pgic = score_pgic(answers.pgic)
        columns["pgic"] = pgic.level
        document["pgic"] = {"level": pgic.level, "label": pgic.label, "improved": pgic.improved}
    if answers.bpi is not None:
        bpi = score_bpi(answers.bpi.severity, answers.bpi.interference)
        columns["bpi_severity"], columns["bpi_interference"] = bpi.severity, bpi.interference
        document["bpi"] = {
            "severity": bpi.severity,
            "interference": bpi.interference,
            "items": answers.bpi.model_dump(),
        }
    for name, scorer in (("phq9", score_phq9), ("gad7", score_gad7)):
        items = getattr(answers, name)
        if items is not None:
            score = scorer(items)
            columns[f"{name}_total"] = score.total
            document[name] = {"loinc": score.loinc, "total": score.total, "band": score.band, "items": items}
    if not document:
        raise InputError("no answers given", field="nrs")
    return columns, document


def answers_of(document: dict[str, Any]) -> dict[str, Any]:
    """The item answers of a stored PRO document, in the shape of Answers (scores and codes left out)."""
    out: dict[str, Any] = {}
    if "nrs" in document:
        out["nrs"] = {k: v for k, v in document["nrs"].items() if k != "loinc"}
    if "pgic" in document:
        out["pgic"] = document["pgic"]["level"]
    if "bpi" in document:
        out["bpi"] = document["bpi"]["items"]
    for name in ("phq9", "gad7"):
        if name in document:
            out[name] = document[name]["items"]
    return out


def _pro_out(row: ProResponse) -> ProOut:
    document = json.loads(row.answers_json)
    return ProOut(
        id=row.id,
        patient_id=row.patient_id,
        course_id=row.course_id,
        followup_item_id=row.followup_item_id,
        timepoint=row.timepoint,
        weeks_after_series=row.weeks_after_series,
        collected_at=row.collected_at,
        via=row.via,
        pain_nrs=row.pain_nrs,
        scores=document,
        answers=answers_of(document),
    )


def store_pro(
    session: Session,
    patient_id: int,
    columns: dict[str, Any],
    document: dict[str, Any],
    *,
    course_id: int | None,
    item: FollowupItem | None,
    timepoint: str,
    weeks_after_series: int | None,
    collected_at: datetime,
    via: str,
    entered_by: int | None,
    synthetic: bool,
    actor: Actor,
) -> tuple[ProResponse, list[AlertFinding]]:
    """Store scored answers (completing their follow-up item), audited, and raise their alerts."""
    if item is not None:
        if item.status != "due":
            raise ConflictError(
                f"follow-up item {item.id} is already {item.status}", field="followup_item_id"
            )
        course_id, timepoint, weeks_after_series = item.course_id, item.kind, item.weeks_after_series
        item.status, item.completed_at = "completed", collected_at
    row = ProResponse(
        patient_id=patient_id,
        course_id=course_id,
        followup_item_id=item.id if item else None,
        timepoint=timepoint,
        weeks_after_series=weeks_after_series,
        collected_at=collected_at,
        via=via,
        entered_by=entered_by,
        answers_json=canonical_json(document),
        synthetic=synthetic,
        **columns,
    )
    session.add(row)
    session.flush()
    audit(session, actor, "create", "pro_response", row.id, {"scores": {"old": None, "new": document}})
    return row, raise_answer_alerts(session, row, document)


def raise_answer_alerts(session: Session, row: ProResponse, document: dict[str, Any]) -> list[AlertFinding]:
    """Raise the patient's alerts their answers call for (PHQ-9 item 9), audited as the system."""
    items: dict[str, list[int]] = {n: document[n]["items"] for n in ("phq9", "gad7") if n in document}
    findings = answer_findings(items, f"pro:{row.id}")
    owner = AlertOwner(patient_id=row.patient_id, course_id=row.course_id, pro_response_id=row.id)
    raised = raise_findings(session, SYSTEM, owner, findings)
    if raised:
        audit(session, SYSTEM, "raise_answer_alerts", "pro_response", row.id, {"alerts": {"new": raised}})
    return findings


def record_pro(
    db: Database, actor: Actor, patient_id: int, data: ProIn, *, synthetic: bool = False
) -> ProOut:
    """Staff enter a patient's questionnaire answers (scored, coded, audited)."""
    require(actor, Permission.OUTCOMES_RECORD)
    columns, document = score_answers(data)
    collected_at = data.collected_at or utcnow()
    if collected_at.tzinfo is None:
        raise InputError("collected_at needs a time zone", field="collected_at")
    if is_future(collected_at):
        raise InputError("collected_at is in the future", field="collected_at")
    if data.timepoint == "after_series" and data.weeks_after_series is None and data.followup_item_id is None:
        raise InputError("an after-series PRO needs weeks_after_series", field="weeks_after_series")
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        item = None
        if data.followup_item_id is not None:
            item = session.get(FollowupItem, data.followup_item_id)
            if item is None or item.patient_id != patient.id:
                raise NotFoundError(f"no follow-up item {data.followup_item_id} for this patient")
        if data.course_id is not None and course_row(session, data.course_id).patient_id != patient.id:
            raise NotFoundError(f"no treatment course {data.course_id} for this patient", field="course_id")
        if item is None and data.course_id is not None and data.timepoint == "after_series":
            # An answer for a scheduled week completes that week's open item.
            item = session.execute(
                select(FollowupItem).where(
                    FollowupItem.course_id == data.course_id,
                    FollowupItem.weeks_after_series == data.weeks_after_series,
                    FollowupItem.status == "due",
                )
            ).scalar_one_or_none()
        row, _findings = store_pro(
            session,
            patient.id,
            columns,
            document,
            course_id=data.course_id,
            item=item,
            timepoint=data.timepoint,
            weeks_after_series=data.weeks_after_series,
            collected_at=collected_at,
            via="staff",
            entered_by=actor.user_id,
            synthetic=synthetic,
            actor=actor,
        )
        return _pro_out(row)


def list_pros(db: Database, actor: Actor, patient_id: int) -> list[ProOut]:
    """A patient's PROs, oldest first."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        load_patient(session, patient_id)
        rows = session.execute(
            select(ProResponse).where(ProResponse.patient_id == patient_id).order_by(ProResponse.collected_at)
        ).scalars()
        return [_pro_out(r) for r in rows]


def pgic_labels() -> list[str]:
    """The PGIC anchors, level 1 first (shown on the questionnaire)."""
    return [score_pgic(level).label for level in range(1, 8)]
