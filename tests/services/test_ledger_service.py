"""The ledger's stock on both backends: receipts, quarantine and disposals, counts and their alerts, the keyed
chain, the audit and the 404s."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pydantic
import pytest
from sqlalchemy import select, text, update

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.monitoring import AlertAction
from ketaclinic.monitoring.rules import ledger_count_findings
from ketaclinic.services.ledger import (
    adjustments,
    counts,
    disposals,
    on_hand,
    preparation,
    receipts,
    reconciling,
    reports,
)
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.alert_raising import clinic_owner, raise_findings
from ketaclinic.services.sessions.clinic_alerts import clinic_alerts, open_clinic_alert_count
from ketaclinic.store.audit import verify_chain
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerEntry
from ketaclinic.store.tables.sessions import SessionAlertFinding
from tests.conftest import STAFF_PASSWORD
from tests.ledger_support import SUPPLIER, ketamine_stock
from tests.services.sessions_support import checked_in_session


def _receipt(ids: dict[str, int], **changes: object) -> receipts.ReceiptIn:
    fields: dict[str, object] = {
        "product_id": ids["product_id"],
        "location_id": ids["location_id"],
        "lot": "K2401",
        "expiry": date.today() + timedelta(days=365),
        "containers": 2,
        **SUPPLIER,
    }
    return receipts.ReceiptIn.model_validate(fields | changes)


def test_a_receipt_raises_the_balance_and_names_the_supplier(db: Database, staff: dict[str, Actor]) -> None:
    ids = ketamine_stock(db, staff, containers=10)
    lines = on_hand.balances(db, staff["nurse"], config=None)
    assert [(b.lot, b.balance_ml, b.balance_mg, b.sealed_containers, b.schedule) for b in lines] == [
        ("K2401", 100.0, 5000.0, 10, "CIII")
    ]
    with pytest.raises(pydantic.ValidationError) as bad_registration:
        _receipt(ids, supplier_registration="AB1234564")
    assert "supplier_registration" in str(bad_registration.value)
    with pytest.raises(ConflictError) as other_expiry:
        receipts.receive(
            db, staff["admin"], _receipt(ids, expiry=date.today() + timedelta(days=30)), config=None
        )
    assert other_expiry.value.field == "expiry"
    with pytest.raises(PermissionDeniedError):
        receipts.receive(db, staff["nurse"], _receipt(ids), config=None)
    with pytest.raises(PermissionDeniedError):
        on_hand.balances(db, staff["researcher"], config=None)
    assert verify_ledger(db).ok


def test_expired_stock_is_quarantined_but_can_be_returned_or_destroyed(
    db: Database, staff: dict[str, Actor]
) -> None:
    ids = ketamine_stock(db, staff, containers=3)
    with db.transaction() as session:
        session.execute(update(LedgerContainer).values(expiry=date.today() - timedelta(days=1)))
    sid = checked_in_session(db, staff)
    vials = [c.id for c in on_hand.containers_in_stock(db, staff["admin"])]
    bag = preparation.PreparationIn(
        container_ids=vials[:1], volume_drawn_ml=5, final_volume_ml=250, checked_by="physician"
    )
    with pytest.raises(ConflictError, match="quarantined"):
        preparation.prepare(db, staff["nurse"], sid, bag, config=None)
    returned = disposals.return_stock(
        db,
        staff["admin"],
        disposals.ReturnIn(
            container_ids=[vials[0]],
            reverse_distributor="Returns Co",
            reverse_distributor_registration="AB1234563",
        ),
    )
    assert returned.quantity_ml == 10
    with pytest.raises(InputError):  # destruction is witnessed
        disposals.destroy(
            db,
            staff["admin"],
            disposals.DestroyIn(container_ids=[vials[1]], method="incineration"),
            config=None,
        )
    disposals.destroy(
        db,
        staff["physician"],
        disposals.DestroyIn(
            container_ids=[vials[1]],
            method="rendered non-retrievable",
            witness="nurse",
            witness_password=STAFF_PASSWORD,
        ),
        config=None,
    )
    lost = disposals.report_loss(
        db,
        staff["physician"],
        disposals.LossIn(
            container_ids=[vials[2]],
            loss_kind="theft",
            discovered_on=date.today(),
            police_notified=True,
            police_report="PD-77",
            description="vial missing at the evening count",
        ),
    )
    assert lost.quantity_mg == 500
    with pytest.raises(ConflictError):
        disposals.return_stock(
            db,
            staff["admin"],
            disposals.ReturnIn(
                container_ids=[vials[0]],
                reverse_distributor="Returns Co",
                reverse_distributor_registration="AB1234563",
            ),
        )
    assert on_hand.balances(db, staff["admin"], config=None)[0].balance_ml == 0
    report = reports.ledger_report(db, staff["physician"], date.today(), date.today(), config=None)
    assert [r.kind for r in report.dispensing] == ["receipt", "return", "destruction", "loss"]
    assert (
        report.dispensing[0].supplier.startswith("Example Wholesale") and report.dispensing[0].containers == 3
    )
    assert "DEA Form 106" in report.dispensing[3].manner
    del ids


def test_a_two_person_count_records_and_keeps_differences_open(db: Database, staff: dict[str, Actor]) -> None:
    ids = ketamine_stock(db, staff, containers=2)
    line = counts.CountLineIn(product_id=ids["product_id"], lot="K2401", counted_ml=18.0)
    data = counts.CountIn(
        location_id=ids["location_id"],
        lines=[line],
        second_counter="physician",
        second_counter_password=STAFF_PASSWORD,
    )
    with pytest.raises(PermissionDeniedError):
        counts.record_count(db, staff["researcher"], data, config=None)
    with pytest.raises(InputError) as alone:
        counts.record_count(
            db, staff["nurse"], data.model_copy(update={"second_counter": "nurse"}), config=None
        )
    assert alone.value.field == "second_counter"
    made = counts.record_count(db, staff["nurse"], data, config=None)
    assert made.differences == 1 and made.lines[0].difference_ml == -2.0
    assert [c.id for c in counts.list_counts(db, staff["nurse"], open_only=True)] == [made.id]
    seq = adjustments.adjust(
        db,
        staff["physician"],
        adjustments.AdjustIn(
            product_id=ids["product_id"],
            lot="K2401",
            location_id=ids["location_id"],
            quantity_ml=-2,
            reason="count",
            count_id=made.id,
        ),
    )
    counts.review_count(db, staff["physician"], made.id, counts.ReviewIn(note=f"adjusted in entry {seq}"))
    assert counts.list_counts(db, staff["nurse"], open_only=True) == []
    assert on_hand.balances(db, staff["nurse"], config=None)[0].balance_ml == 18.0
    adjustments.correct(
        db, staff["physician"], adjustments.CorrectionIn(seq=seq, reason="the vial was found")
    )
    assert on_hand.balances(db, staff["nurse"], config=None)[0].balance_ml == 20.0
    with pytest.raises(ConflictError):
        adjustments.correct(db, staff["physician"], adjustments.CorrectionIn(seq=seq, reason="again"))


def _count(ids: dict[str, int], counted_ml: float) -> counts.CountIn:
    line = counts.CountLineIn(product_id=ids["product_id"], lot="K2401", counted_ml=counted_ml)
    return counts.CountIn(
        location_id=ids["location_id"],
        lines=[line],
        second_counter="physician",
        second_counter_password=STAFF_PASSWORD,
    )


def test_a_count_difference_raises_a_clinic_alert_that_its_review_resolves(
    db: Database, staff: dict[str, Actor]
) -> None:
    ids = ketamine_stock(db, staff, containers=2)
    counts.record_count(db, staff["nurse"], _count(ids, 20.0), config=None)  # matches: no alert
    assert clinic_alerts(db, staff["physician"], config=None) == []
    made = counts.record_count(db, staff["nurse"], _count(ids, 18.0), config=None)
    [alert] = clinic_alerts(db, staff["physician"], config=None)
    assert (alert.session_id, alert.patient_id, alert.group, alert.rule_key) == (
        None,
        None,
        "stock",
        "ledger_count_difference",
    )
    assert alert.source_status == "local-policy" and alert.clinic_wide and alert.severity == "warning"
    assert (
        f"Stock count {made.id}:" in alert.message and "20 mL expected, 18 mL found (-2 mL)" in alert.message
    )
    assert [a.key for a in alert.actions] == [AlertAction.COUNT_REVIEWED]
    assert open_clinic_alert_count(db, staff["nurse"]) == 1
    second = counts.record_count(db, staff["nurse"], _count(ids, 19.0), config=None)
    assert open_clinic_alert_count(db, staff["physician"]) == 2  # one alert per count, none merged
    counts.review_count(db, staff["physician"], made.id, counts.ReviewIn(note="a vial miscounted"))
    [left] = clinic_alerts(db, staff["physician"], config=None)
    assert f"Stock count {second.id}:" in left.message
    [resolved] = clinic_alerts(db, staff["physician"], "resolved", config=None)
    assert resolved.id == alert.id and resolved.resolved_by == "physician"
    assert resolved.resolution == f"count {made.id} reviewed: a vial miscounted"
    with db.read() as session:
        events = session.execute(
            select(AuditEvent.action).where(
                AuditEvent.entity == "session_alert", AuditEvent.entity_id == str(alert.id)
            )
        ).scalars()
        assert list(events) == ["resolve"]
        assert verify_chain(session).ok


def test_a_count_alert_is_recorded_once_per_count(db: Database, staff: dict[str, Actor]) -> None:
    ids = ketamine_stock(db, staff, containers=2)
    made = counts.record_count(db, staff["nurse"], _count(ids, 18.0), config=None)
    again = ledger_count_findings(made.id, described="raised a second time", differences=1)
    owner = clinic_owner(again[0].trigger_key)
    with db.transaction() as session:  # a retried raise hits the clinic-only unique indexes
        assert raise_findings(session, staff["nurse"], owner, again) == []
    with db.read() as session:
        rows = session.execute(select(SessionAlertFinding).where(SessionAlertFinding.alert_id.is_not(None)))
        assert len(list(rows.scalars())) == 1
    [alert] = clinic_alerts(db, staff["physician"], config=None)
    assert "raised a second time" not in alert.message and len(alert.findings) == 1


def test_the_ledger_is_append_only_and_a_tampered_entry_is_named(
    db: Database, staff: dict[str, Actor]
) -> None:
    ketamine_stock(db, staff, boxes=3)
    assert verify_ledger(db).entries == 3
    with pytest.raises(Exception, match="append-only"), db.transaction() as session:
        session.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(quantity_ul=1))
    with db.transaction() as session:  # behind the application's back, triggers off
        if db.dialect == "sqlite":
            session.execute(text("DROP TRIGGER ledger_entries_no_update"))
        else:
            session.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_no_change"))
        session.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(quantity_ul=1))
    report = verify_ledger(db)
    assert not report.ok and report.first_bad_seq == 2 and "entry 2" in report.problem
    with db.read() as session:
        assert verify_chain(session).ok  # the audit trail is its own chain


def test_every_ledger_write_is_audited(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.store.tables.audit import AuditEvent

    ketamine_stock(db, staff)
    with db.read() as session:
        actions = [e.action for e in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()]
    assert {"add_product", "add_location", "receive"} <= set(actions)
    with db.read() as session:
        receipt = session.execute(select(AuditEvent).where(AuditEvent.action == "receive")).scalar_one()
    assert json.loads(receipt.changes_json)["containers"]["new"] == 10


def test_unknown_records_are_404s(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(NotFoundError):
        reconciling.reconciliation(db, staff["nurse"], 999_999, config=None)
    with pytest.raises(NotFoundError) as no_product:
        receipts.receive(
            db, staff["admin"], _receipt({"product_id": 999_999, "location_id": 999_999}), config=None
        )
    assert no_product.value.field == "product_id"


def test_a_balance_row_edited_behind_the_ledger_is_named(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.store.tables.ledger import LedgerBalance

    ketamine_stock(db, staff, boxes=2)
    with db.transaction() as session:
        session.execute(update(LedgerBalance).values(balance_ul=LedgerBalance.balance_ul + 10_000))
    report = verify_ledger(db)
    assert not report.ok and report.first_bad_seq == 2 and "entries sum to" in report.problem
