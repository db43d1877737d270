"""The patient registry: identity, measurements, diagnoses, prior treatments, allergies, contact, referrer."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.store.base import Base, UTCDateTime
from ketaclinic.store.versioning import Versioned


class Patient(Versioned, Base):
    """One patient of the clinic (versioned: an edit names the version it read)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    pain_mechanism: Mapped[str | None] = mapped_column(String(20), nullable=True)
    pain_duration_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "No known allergies" as asked and answered; unset with no allergy on record means not asked.
    no_known_allergies_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    no_known_allergies_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contact_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    contact_channel: Mapped[str | None] = mapped_column(String(10), nullable=True)
    contact_consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    contact_consent_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    referrer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    referrer_identifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    referrer_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    referrer_email: Mapped[str | None] = mapped_column(String(254), nullable=True)

    measurements: Mapped[list[Measurement]] = relationship(
        back_populates="patient", order_by="Measurement.measured_on", cascade="all, delete-orphan"
    )
    diagnoses: Mapped[list[PatientDiagnosis]] = relationship(
        back_populates="patient", order_by="PatientDiagnosis.id", cascade="all, delete-orphan"
    )
    prior_treatments: Mapped[list[PriorTreatment]] = relationship(
        back_populates="patient", order_by="PriorTreatment.id", cascade="all, delete-orphan"
    )
    allergies: Mapped[list[Allergy]] = relationship(
        back_populates="patient", order_by="Allergy.id", cascade="all, delete-orphan"
    )


class Measurement(Versioned, Base):
    """A dated body weight (kg) and/or height (cm); one entered in error is struck out, never deleted."""

    __tablename__ = "patient_measurements"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    measured_on: Mapped[date] = mapped_column(Date)
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    height_cm: Mapped[float | None] = mapped_column(Float, nullable=True)
    confirm_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    struck_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    struck_out_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    strike_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    patient: Mapped[Patient] = relationship(back_populates="measurements")


class PatientDiagnosis(Base):
    """A coded diagnosis (ICD-10-CM from the shipped list)."""

    __tablename__ = "patient_diagnoses"
    __table_args__ = (UniqueConstraint("patient_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    patient: Mapped[Patient] = relationship(back_populates="diagnoses")


class PriorTreatment(Base):
    """A treatment tried before ketamine and how it went."""

    __tablename__ = "prior_treatments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))

    patient: Mapped[Patient] = relationship(back_populates="prior_treatments")


class Allergy(Base):
    """An allergy: substance (free text, optionally coded), reaction, severity; struck out, never deleted."""

    __tablename__ = "patient_allergies"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    substance: Mapped[str] = mapped_column(String(200))
    substance_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reaction: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))
    struck_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    struck_out_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    strike_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    patient: Mapped[Patient] = relationship(back_populates="allergies")
