"""Dose plans: a patient's protocol computed for their weight, checked, approved and co-signed."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime
from ketaclinic.store.versioning import Versioned


class DosePlanRow(Versioned, Base):
    """One dose plan: its inputs, the computed plan document and who approved and co-signed it.

    status: draft -> awaiting_cosign (approved with soft breaches) -> approved; draft/awaiting -> cancelled.
    The JSON columns are canonical JSON text; the queryable facts are real columns.
    """

    __tablename__ = "dose_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    protocol_id: Mapped[str] = mapped_column(String(64))
    context_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    verdict: Mapped[str] = mapped_column(String(10))
    model_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    dosing_weight_kg: Mapped[float] = mapped_column(Float)
    concentration_mg_ml: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    session_count: Mapped[int] = mapped_column(Integer)
    series_total_mg: Mapped[float] = mapped_column(Float)
    inputs_json: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[str] = mapped_column(Text)
    soft_reasons_json: Mapped[str] = mapped_column(Text, default="{}")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cosigned_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
