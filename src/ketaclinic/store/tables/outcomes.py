"""Outcomes: treatment courses, follow-up items, PROs, one-time links, imported cohorts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    text,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.store.base import Base, UTCDateTime
from ketaclinic.store.versioning import Versioned


class TreatmentCourse(Versioned, Base):
    """One series of infusions for a patient: what the responder definitions need beside the sessions."""

    __tablename__ = "treatment_courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    # The dose plan this course carries out (plans live in another module; kept as a plain reference).
    plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_on: Mapped[date] = mapped_column(Date)
    series_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    sessions_planned: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Endpoint: this many weeks after the series; None = the last follow-up within the schedule.
    endpoint_weeks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    discontinued: Mapped[str] = mapped_column(String(20), default="none", index=True)
    discontinued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    discontinued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)

    @hybrid_property
    def is_open(self) -> bool:
        """Running: its series end not recorded and not discontinued (a patient has at most one)."""
        return self.series_end is None and self.discontinued == "none"

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls) -> ColumnElement[bool]:
        return and_(cls.series_end.is_(None), cls.discontinued == "none")

    followups: Mapped[list[FollowupItem]] = relationship(
        back_populates="course", order_by="FollowupItem.due_on", cascade="all, delete-orphan"
    )


class FollowupItem(Base):
    """One scheduled follow-up contact (after a session, or N weeks after the series)."""

    __tablename__ = "followup_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("treatment_courses.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    session_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weeks_after_series: Mapped[int | None] = mapped_column(Integer, nullable=True)
    instruments: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="due", index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    course: Mapped[TreatmentCourse] = relationship(back_populates="followups")


# The answers the clinic cohort reads (services/outcomes/facts_queries.py), each with a covering index in the
# order its window reads them: a course's baseline questionnaires and its after-series follow-ups.
BASELINE_ANSWERS = "timepoint = 'baseline' AND course_id IS NOT NULL AND pain_nrs IS NOT NULL"
AFTER_SERIES_ANSWERS = (
    "timepoint = 'after_series' AND course_id IS NOT NULL AND weeks_after_series IS NOT NULL "
    "AND pain_nrs IS NOT NULL"
)


class ProResponse(Base):
    """One set of patient-reported outcomes, scored by the pure instruments (answers kept as JSON)."""

    __tablename__ = "pro_responses"
    __table_args__ = (
        Index(
            "ix_pro_responses_baseline_answers",
            "course_id",
            "collected_at",
            "id",
            "pain_nrs",
            sqlite_where=text(BASELINE_ANSWERS),
            postgresql_where=text(BASELINE_ANSWERS),
        ),
        Index(
            "ix_pro_responses_after_series_answers",
            "course_id",
            "weeks_after_series",
            "collected_at",
            "id",
            "pain_nrs",
            sqlite_where=text(AFTER_SERIES_ANSWERS),
            postgresql_where=text(AFTER_SERIES_ANSWERS),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_courses.id", ondelete="CASCADE"), nullable=True, index=True
    )
    followup_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("followup_items.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # baseline | after_session | after_series | unscheduled
    timepoint: Mapped[str] = mapped_column(String(20))
    weeks_after_series: Mapped[int | None] = mapped_column(Integer, nullable=True)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    via: Mapped[str] = mapped_column(String(10))  # staff | link
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    nrs_recall: Mapped[str] = mapped_column(String(4), default="24h")
    nrs_now: Mapped[float | None] = mapped_column(Float, nullable=True)
    nrs_average: Mapped[float | None] = mapped_column(Float, nullable=True)
    nrs_worst: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The NRS the responder definitions read: average over the recall period, else now, else worst.
    pain_nrs: Mapped[float | None] = mapped_column(Float, nullable=True)
    pgic: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bpi_severity: Mapped[float | None] = mapped_column(Float, nullable=True)
    bpi_interference: Mapped[float | None] = mapped_column(Float, nullable=True)
    phq9_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gad7_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answers_json: Mapped[str] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)


class ProLink(Base):
    """A one-time questionnaire link for a patient: only the token's SHA-256 is stored.

    At most one link per follow-up item is live (neither used nor revoked): issuing another revokes it.
    """

    __tablename__ = "pro_links"
    __table_args__ = (
        Index(
            "uq_pro_links_one_live_per_item",
            "followup_item_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL AND used_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL AND used_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    followup_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("followup_items.id", ondelete="CASCADE"), nullable=True, index=True
    )
    instruments: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class ImportedCohort(Base):
    """A retrospective cohort loaded from a CSV file, kept apart from the clinic's own patients."""

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_json: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(64))
    n: Mapped[int] = mapped_column(Integer)
    adverse_events_recorded: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    records: Mapped[list[CohortRow]] = relationship(
        back_populates="cohort", order_by="CohortRow.id", cascade="all, delete-orphan"
    )


class CohortRow(Base):
    """One patient of an imported cohort (the CSV columns, missing = NULL)."""

    __tablename__ = "cohort_records"
    __table_args__ = (UniqueConstraint("cohort_id", "patient_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    patient_ref: Mapped[str] = mapped_column(String(64))
    diagnosis: Mapped[str] = mapped_column(String(10))
    pain_mechanism: Mapped[str] = mapped_column(String(20))
    baseline_nrs: Mapped[float | None] = mapped_column(Float, nullable=True)
    followup_nrs: Mapped[float | None] = mapped_column(Float, nullable=True)
    discontinued: Mapped[str] = mapped_column(String(20))
    relief_weeks: Mapped[float | None] = mapped_column(Float, nullable=True)
    relief_ongoing: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(10), nullable=True)
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    sessions_planned: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sessions_completed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_dose_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    adverse_events: Mapped[str] = mapped_column(Text, default="")
    daily_nrs: Mapped[str] = mapped_column(Text, default="", server_default="")  # "day:nrs;day:nrs"

    cohort: Mapped[ImportedCohort] = relationship(back_populates="records")
