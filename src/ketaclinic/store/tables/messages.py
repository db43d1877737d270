"""The outbox: messages to patients as durable rows a worker claims, and addresses that refused for good."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime


class OutboxMessage(Base):
    """One message to one patient: queued, claimed by a worker (sending), then sent, failed or cancelled."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # kind | target | due date: two scheduler steps that see the same due message create it once.
    unique_key: Mapped[str] = mapped_column(String(120), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(254), nullable=True)  # as it was when sent
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The RFC 5322 Message-ID, fixed when queued: a resend after a crash carries the same one.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    opt_out_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    followup_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("followup_items.id", ondelete="SET NULL"), nullable=True, index=True
    )
    pro_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("pro_links.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UndeliverableAddress(Base):
    """An address its server refused for good (SMTP 5xx on RCPT): nothing more is sent to it."""

    __tablename__ = "undeliverable_addresses"
    __table_args__ = (UniqueConstraint("patient_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(254))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(String(200))
