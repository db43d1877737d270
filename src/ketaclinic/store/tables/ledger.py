"""The controlled-substance ledger: products, locations, receipts, containers, balances, the keyed
append-only entries, preparations for sessions, and counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.store.base import Base, UTCDateTime

_SEQ = BigInteger().with_variant(Integer, "sqlite")


class LedgerProduct(Base):
    """A stocked product: drug, finished form, strength, container volume and NDC."""

    __tablename__ = "ledger_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    drug: Mapped[str] = mapped_column(String(20), index=True)
    form: Mapped[str] = mapped_column(String(30))
    strength_mg_ml: Mapped[float] = mapped_column(Float)
    container_ml: Mapped[float] = mapped_column(Float)
    ndc: Mapped[str] = mapped_column(String(13), unique=True)
    ndc11: Mapped[str] = mapped_column(String(13), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerLocation(Base):
    """A storage location (a safe, a locked cabinet)."""

    __tablename__ = "ledger_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerReceipt(Base):
    """Containers received from a supplier (21 CFR 1304.22(c): date, supplier, address, registration)."""

    __tablename__ = "ledger_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ledger_products.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"))
    lot: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date] = mapped_column(Date)
    containers: Mapped[int] = mapped_column(Integer)
    supplier_name: Mapped[str] = mapped_column(String(200))
    supplier_address: Mapped[str] = mapped_column(Text)
    supplier_registration: Mapped[str] = mapped_column(String(9))
    invoice: Mapped[str] = mapped_column(String(80))
    received_on: Mapped[date] = mapped_column(Date)
    received_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerContainer(Base):
    """One vial: sealed, opened (partly used), empty, or gone (returned, destroyed, lost)."""

    __tablename__ = "ledger_containers"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("ledger_receipts.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ledger_products.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"), index=True)
    lot: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12), index=True)
    remaining_ul: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LedgerBalance(Base):
    """The running balance of one product's lot at one location; `version` moves on with every entry."""

    __tablename__ = "ledger_balances"
    __table_args__ = (UniqueConstraint("product_id", "lot", "location_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ledger_products.id"))
    lot: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"))
    expiry: Mapped[date] = mapped_column(Date)
    balance_ul: Mapped[int] = mapped_column(_SEQ)
    version: Mapped[int] = mapped_column(Integer, default=1)


class LedgerEntry(Base):
    """One append-only ledger entry, sealed to the one before it with the audit trail's key."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ledger_products.id"), index=True)
    lot: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"))
    container_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_containers.id"), nullable=True)
    quantity_ul: Mapped[int] = mapped_column(_SEQ)  # magnitude; an adjustment's is signed
    stock_delta_ul: Mapped[int] = mapped_column(_SEQ)
    balance_after_ul: Mapped[int] = mapped_column(_SEQ)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("infusion_sessions.id"), nullable=True, index=True
    )
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    preparation_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_preparations.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    witness: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reverses_seq: Mapped[int | None] = mapped_column(_SEQ, nullable=True, unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Base):
    """The single row naming the ledger's last entry; appending locks it, so appends are serial."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(_SEQ)
    last_hash: Mapped[str] = mapped_column(String(64))


class LedgerPreparation(Base):
    """A bag prepared for a session: drawn, diluted, double-checked; then administered, wasted, reconciled."""

    __tablename__ = "ledger_preparations"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # infusion, or a charted dose's purpose
    medication_id: Mapped[int | None] = mapped_column(ForeignKey("session_medications.id"), nullable=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ledger_products.id"))
    lot: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"))
    containers_json: Mapped[str] = mapped_column(Text)
    drawn_ul: Mapped[int] = mapped_column(Integer)
    prepared_mg: Mapped[float] = mapped_column(Float)
    diluent: Mapped[str] = mapped_column(String(80))
    final_volume_ml: Mapped[float] = mapped_column(Float)
    concentration_mg_ml: Mapped[float] = mapped_column(Float)
    prepared_by: Mapped[str] = mapped_column(String(64))
    checked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(15), index=True)  # prepared, reconciled, discrepancy
    administered_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    wasted_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    waste_method: Mapped[str | None] = mapped_column(String(80), nullable=True)
    waste_witness: Mapped[str | None] = mapped_column(String(64), nullable=True)
    discrepancy_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    tolerance_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reconciled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LedgerCount(Base):
    """A stock count by two people at one location: what each line counted and what differed."""

    __tablename__ = "ledger_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("ledger_locations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # shift, daily, biennial, initial
    counted_by: Mapped[str] = mapped_column(String(64))
    second_counter: Mapped[str] = mapped_column(String(64))
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lines_json: Mapped[str] = mapped_column(Text)
    differences: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    # A count with differences stays open (shown on the stock page) until a physician or admin reviews it.
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
