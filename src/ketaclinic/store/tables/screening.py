"""Screenings (intake, evaluation, signature), their addenda, and consents per protocol."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime
from ketaclinic.store.versioning import Versioned


class Screening(Versioned, Base):
    """One screening of a patient: draft until a physician signs it, then locked."""

    __tablename__ = "screenings"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # draft | signed
    intake_version: Mapped[str] = mapped_column(String(10))
    intake_json: Mapped[str] = mapped_column(Text)  # canonical JSON of the validated intake
    result_json: Mapped[str] = mapped_column(Text)  # ScreeningResult.to_json_dict(), canonical JSON
    verdict: Mapped[str] = mapped_column(String(30), index=True)
    rules_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    signed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ScreeningAddendum(Base):
    """A note added to a signed screening (the screening itself never changes)."""

    __tablename__ = "screening_addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class Consent(Base):
    """A patient's consent to one protocol: template snapshot, risks discussed, both signatures."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    protocol_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # signed | withdrawn
    template_version: Mapped[str] = mapped_column(String(20))
    template_json: Mapped[str] = mapped_column(
        Text
    )  # the template as shown (title, text, risks, alternatives)
    risks_json: Mapped[str] = mapped_column(Text)  # [{code, label, discussed, reason}]
    alternatives_json: Mapped[str] = mapped_column(Text)  # [codes discussed]
    patient_signature: Mapped[str] = mapped_column(String(200))  # the signer's typed full name
    # patient | representative: who signed, and for a representative their relation to the patient
    signed_by: Mapped[str] = mapped_column(String(20), default="patient", server_default="patient")
    representative_relation: Mapped[str | None] = mapped_column(String(30), nullable=True)
    representative_relation_detail: Mapped[str | None] = mapped_column(String(100), nullable=True)
    patient_signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    witness: Mapped[str] = mapped_column(String(200))
    physician: Mapped[str] = mapped_column(String(64))
    physician_signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
