"""Infusion sessions: the charted record of one planned session (segments, flowsheet, alerts, events)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime


class InfusionSession(Base):
    """One session of an approved dose plan, from scheduling to signature."""

    __tablename__ = "infusion_sessions"
    __table_args__ = (
        UniqueConstraint("plan_id", "session_number"),
        # Covers what the clinic cohort's session totals read, in id order (an index-only scan).
        Index("ix_infusion_sessions_totals", "id", "patient_id", "plan_id", "started_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("dose_plans.id"), index=True)
    session_number: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    scheduled_on: Mapped[date] = mapped_column(Date, index=True)
    drug: Mapped[str] = mapped_column(String(20))
    model_key: Mapped[str] = mapped_column(String(40))
    context_id: Mapped[str] = mapped_column(String(80))
    concentration_mg_ml: Mapped[float] = mapped_column(Float)
    dosing_weight_kg: Mapped[float] = mapped_column(Float)
    cadence: Mapped[str] = mapped_column(String(20))
    measured_weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    checkin_json: Mapped[str] = mapped_column(Text, default="{}")
    discharge_json: Mapped[str] = mapped_column(Text, default="{}")
    end_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    early_end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    signed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RateSegment(Base):
    """A charted rate from `started_at` until the next segment: start, change, pause, resume or stop."""

    __tablename__ = "session_rate_segments"
    # Covers the cohort's spans (each segment until the next): in session and time order, with the rate.
    __table_args__ = (Index("ix_session_rate_segments_spans", "session_id", "started_at", "id", "rate_mg_h"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pump_ml_h: Mapped[float] = mapped_column(Float)
    concentration_mg_ml: Mapped[float] = mapped_column(Float)
    rate_mg_h: Mapped[float] = mapped_column(Float)
    rate_mg_kg_h: Mapped[float] = mapped_column(Float)
    weight_kg: Mapped[float] = mapped_column(Float)
    entered_as: Mapped[str] = mapped_column(String(10))
    verdict: Mapped[str] = mapped_column(String(10))
    check_json: Mapped[str] = mapped_column(Text, default="{}")
    limit_reason: Mapped[str] = mapped_column(Text, default="")
    planned_rate_mg_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    deviation: Mapped[bool] = mapped_column(Boolean, default=False)
    deviation_reason: Mapped[str] = mapped_column(Text, default="")
    charted_by: Mapped[str] = mapped_column(String(64))
    charted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionObservation(Base):
    """One timed flowsheet reading (values and their interpretation as JSON, LOINC codes kept)."""

    __tablename__ = "session_observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phase: Mapped[str] = mapped_column(String(12))
    values_json: Mapped[str] = mapped_column(Text)
    interpretation_json: Mapped[str] = mapped_column(Text)
    loinc_json: Mapped[str] = mapped_column(Text)
    charted_by: Mapped[str] = mapped_column(String(64))
    charted_at: Mapped[datetime] = mapped_column(UTCDateTime())


# A patient's alert outside any session (raised by their questionnaire answers) has no session_id.
_PATIENT_ONLY = "session_id IS NULL"
_OPEN_PATIENT_ONLY = "state = 'open' AND session_id IS NULL"
# A clinic alert (a stock count that differs from the ledger) has neither: one per trigger key.
_CLINIC_ONLY = "session_id IS NULL AND patient_id IS NULL"


class SessionAlert(Base):
    """A durable alert of an infusion session, of a patient outside any session (their answers), or of
    the clinic (neither: a stock count that differs from the ledger).

    At most one is open per group and session (or per group and patient outside sessions); a worse
    finding escalates it in place.
    """

    __tablename__ = "session_alerts"
    __table_args__ = (
        UniqueConstraint("session_id", "trigger_key"),
        Index(
            "uq_session_alerts_one_open_per_group",
            "session_id",
            "alert_group",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index(
            "uq_session_alerts_one_open_per_patient_group",
            "patient_id",
            "alert_group",
            unique=True,
            sqlite_where=text(_OPEN_PATIENT_ONLY),
            postgresql_where=text(_OPEN_PATIENT_ONLY),
        ),
        Index(
            "uq_session_alerts_clinic_trigger",
            "trigger_key",
            unique=True,
            sqlite_where=text(_CLINIC_ONLY),
            postgresql_where=text(_CLINIC_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("infusion_sessions.id"), nullable=True, index=True
    )
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True, index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_courses.id"), nullable=True)
    pro_response_id: Mapped[int | None] = mapped_column(ForeignKey("pro_responses.id"), nullable=True)
    trigger_key: Mapped[str] = mapped_column(String(160))
    observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_observations.id"), nullable=True, index=True
    )
    rule_key: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))
    advice: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(30), nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    t_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(Text)
    source_status: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(15), index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    action_taken: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    alert_group: Mapped[str] = mapped_column(String(20), default="charting")
    clinic_wide: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    last_raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    critical_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by_observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_observations.id"), nullable=True
    )


class SessionAlertFinding(Base):
    """One finding an alert collected (its history of readings); the trigger key is unique per session."""

    __tablename__ = "session_alert_findings"
    __table_args__ = (
        UniqueConstraint("session_id", "trigger_key"),
        Index(
            "uq_session_alert_findings_patient_trigger",
            "patient_id",
            "trigger_key",
            unique=True,
            sqlite_where=text(_PATIENT_ONLY),
            postgresql_where=text(_PATIENT_ONLY),
        ),
        Index(
            "uq_session_alert_findings_clinic_trigger",
            "trigger_key",
            unique=True,
            sqlite_where=text(_CLINIC_ONLY),
            postgresql_where=text(_CLINIC_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("infusion_sessions.id"), nullable=True, index=True
    )
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True, index=True)
    pro_response_id: Mapped[int | None] = mapped_column(ForeignKey("pro_responses.id"), nullable=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("session_alerts.id"), nullable=True, index=True)
    trigger_key: Mapped[str] = mapped_column(String(160))
    observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_observations.id"), nullable=True, index=True
    )
    alert_group: Mapped[str] = mapped_column(String(20))
    rule_key: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    t_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertNotification(Base):
    """A durable announcement of an alert (one per alert and kind) for a delivery worker to claim."""

    __tablename__ = "alert_notifications"
    __table_args__ = (UniqueConstraint("alert_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("session_alerts.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("infusion_sessions.id"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SessionAdverseEvent(Base):
    """An adverse event with severity, action, outcome and the predicted Cp at its onset (with its weight and
    model; null on events charted before they were stored)."""

    __tablename__ = "session_adverse_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    onset_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cp_at_onset_ng_ml: Mapped[float] = mapped_column(Float)
    cp_weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    cp_model_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    charted_by: Mapped[str] = mapped_column(String(64))
    charted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionMedication(Base):
    """A dated dose given during the session: premedication, rescue, or a ketamine bolus."""

    __tablename__ = "session_medications"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    medication: Mapped[str] = mapped_column(String(40))
    dose: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(12))
    route: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    adverse_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_adverse_events.id"), nullable=True
    )
    check_json: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    charted_by: Mapped[str] = mapped_column(String(64))
    charted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionAddendum(Base):
    """A note added after signature (the signed record itself never changes)."""

    __tablename__ = "session_addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
