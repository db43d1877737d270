"""The ledger's use cases on both backends: receipts, the bag, witnessed waste, the signing gate, the
discrepancy alert, the keyed chain, counts, disposals, the last-vial race and the roles."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pydantic
import pytest
from sqlalchemy import select, text, update

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.ledger import NegativeBalanceError
from ketaclinic.monitoring import AlertAction
from ketaclinic.monitoring.rules import ledger_count_findings
from ketaclinic.services.ledger import (
    adjustments,
    catalogue,
    counts,
    disposals,
    doses,
    on_hand,
    preparation,
    receipts,
    reconciling,
    reports,
    waste,
)
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions import signing
from ketaclinic.services.sessions.alert_raising import clinic_owner, raise_findings
from ketaclinic.services.sessions.clinic_alerts import clinic_alerts, open_clinic_alert_count
from ketaclinic.services.sessions.events import MedicationIn, chart_medication
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.audit import verify_chain
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.ledger import LedgerContainer, LedgerEntry
from ketaclinic.store.tables.sessions import SessionAlert, SessionAlertFinding
from tests.conftest import STAFF_PASSWORD
from tests.ledger_support import SUPPLIER, ketamine_stock, prepare_bag, waste_rest
from tests.services.sessions_support import at_once, checked_in_session, clinic_ending_policy

NORMAL = {"sbp": 125, "dbp": 78, "hr": 75, "spo2": 98, "rr": 14, "rass": 0, "nrs": 4}


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


def _ended_session(db: Database, staff: dict[str, Actor], tmp_path: Path) -> tuple[int, Path]:
    """A session prepared, run an hour at 24.5 mg/h (24.5 mg), ended and discharged (not signed)."""
    sid = checked_in_session(db, staff)
    prepare_bag(db, staff, sid)
    nurse = staff["nurse"]
    sessions.start(db, nurse, sid, RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(hours=1)), config=None)
    sessions.end_infusion(db, nurse, sid, sessions.EndIn(reason="test end"), stopped=True, config=None)
    chart_observation(db, nurse, sid, NORMAL, config=None)
    no_wait = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    answers = {"able_to_walk": True, "escort_present": True}
    signing.discharge(db, nurse, sid, signing.DischargeIn(answers=answers), config=no_wait)
    return sid, no_wait


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


def test_a_bag_at_another_concentration_is_refused_with_409(db: Database, staff: dict[str, Actor]) -> None:
    sid = checked_in_session(db, staff)
    ketamine_stock(db, staff)
    vial = on_hand.containers_in_stock(db, staff["nurse"])[0].id
    wrong = preparation.PreparationIn(
        container_ids=[vial], volume_drawn_ml=10, final_volume_ml=100, checked_by="physician"
    )  # 500 mg in 100 mL is 5 mg/mL
    with pytest.raises(ConflictError) as refused:
        preparation.prepare(db, staff["nurse"], sid, wrong, config=None)
    assert refused.value.field == "final_volume_ml"
    unchecked = wrong.model_copy(update={"checked_by": "", "volume_drawn_ml": 2, "final_volume_ml": 100})
    with pytest.raises(InputError) as no_check:
        preparation.prepare(db, staff["nurse"], sid, unchecked, config=None)
    assert no_check.value.field == "checked_by"
    self_check = unchecked.model_copy(update={"checked_by": "nurse"})
    with pytest.raises(InputError):
        preparation.prepare(db, staff["nurse"], sid, self_check, config=None)
    assert on_hand.balances(db, staff["nurse"], config=None)[0].balance_ml == 100.0  # nothing drawn


def test_a_session_is_signed_once_its_bag_is_wasted_and_reconciled(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid, _ = _ended_session(db, staff, tmp_path)
    with pytest.raises(ConflictError) as gate:
        signing.sign(db, staff["nurse"], sid, config=None)
    assert gate.value.field == "ledger" and "waste" in gate.value.message
    before = reconciling.reconciliation(db, staff["nurse"], sid, config=None)
    assert before.administered_mg == pytest.approx(24.5, abs=0.05)  # from the chart, never typed
    assert before.prepared_mg == 250.0 and before.state == "prepared"
    with pytest.raises(InputError) as wrong_password:
        waste.record_waste(
            db,
            staff["nurse"],
            sid,
            waste.WasteIn(residual_ml=225.5, method="sink", witness="physician", witness_password="nope"),
            config=None,
        )
    assert wrong_password.value.field == "witness_password"
    with pytest.raises(InputError) as self_witness:
        waste.record_waste(
            db,
            staff["nurse"],
            sid,
            waste.WasteIn(residual_ml=225.5, method="sink", witness="nurse", witness_password=STAFF_PASSWORD),
            config=None,
        )
    assert self_witness.value.field == "witness"
    done = waste_rest(db, staff, sid)
    assert done.within_tolerance and done.discrepancy_mg == pytest.approx(0, abs=1e-6)
    assert done.wasted_mg == pytest.approx(250 - done.administered_mg, abs=1e-6)
    assert signing.sign(db, staff["nurse"], sid, config=None) == "signed"
    from ketaclinic.store.tables.audit import AuditEvent

    with db.read() as session:
        administered = session.execute(
            select(AuditEvent).where(AuditEvent.action == "administer")
        ).scalar_one()
        assert json.loads(administered.changes_json)["administered_mg"]["new"] == done.administered_mg
        kinds = [e.kind for e in session.execute(select(LedgerEntry).order_by(LedgerEntry.seq)).scalars()]
        assert kinds == ["receipt", "draw", "administration", "waste"]
        waste_entry = session.execute(select(LedgerEntry).where(LedgerEntry.kind == "waste")).scalar_one()
        assert waste_entry.witness == "physician" and waste_entry.patient_id is not None
    assert verify_ledger(db).ok and verify_ledger(db).entries == 4


def test_a_discrepancy_alerts_the_physicians_and_blocks_signing_until_accepted(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid, _ = _ended_session(db, staff, tmp_path)
    result = waste_rest(db, staff, sid, extra_ml=-2.0)  # 2 mL (2 mg) short of what should be left
    assert not result.within_tolerance and result.discrepancy_mg == pytest.approx(2.0, abs=1e-6)
    with db.read() as session:
        alert = session.execute(select(SessionAlert).where(SessionAlert.session_id == sid)).scalars().all()
        ledger_alerts = [a for a in alert if a.rule_key == "ledger_reconciliation"]
        assert len(ledger_alerts) == 1 and ledger_alerts[0].clinic_wide and ledger_alerts[0].state == "open"
    with pytest.raises(ConflictError, match="outside the tolerance"):
        signing.sign(db, staff["nurse"], sid, config=None)
    with pytest.raises(PermissionDeniedError):
        reconciling.accept_discrepancy(db, staff["nurse"], sid, reconciling.AcceptIn(reason="spilled"))
    reconciling.accept_discrepancy(
        db, staff["physician"], sid, reconciling.AcceptIn(reason="2 mL spilled when the line was changed")
    )
    assert signing.sign(db, staff["nurse"], sid, config=None) == "signed"


def test_the_gate_is_local_policy(db: Database, staff: dict[str, Actor], tmp_path: Path) -> None:
    sid, clinic = _ended_session(db, staff, tmp_path)
    (clinic / "ledger_policy.toml").write_text(
        '[reconcile_before_signing]\nvalue = false\nsource = "test clinic"\n', encoding="utf-8"
    )
    assert signing.sign(db, staff["nurse"], sid, config=clinic) == "signed"


def test_a_midazolam_rescue_dose_is_drawn_from_stock(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid = checked_in_session(db, staff)
    prepare_bag(db, staff, sid)
    admin = staff["admin"]
    midazolam = catalogue.add_product(
        db,
        admin,
        catalogue.ProductIn(drug="midazolam", strength_mg_ml=1, container_ml=5, ndc="1234-5679-10"),
        config=None,
    )
    location = catalogue.list_locations(db, admin)[0].id
    received = receipts.receive(
        db,
        admin,
        receipts.ReceiptIn(
            product_id=midazolam.id,
            location_id=location,
            lot="M1",
            expiry=date.today() + timedelta(days=200),
            containers=5,
            **SUPPLIER,
        ),
        config=None,
    )
    assert midazolam.schedule == "CIV"
    nurse = staff["nurse"]
    sessions.start(db, nurse, sid, RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(minutes=30)), config=None)
    dose = chart_medication(
        db, nurse, sid, MedicationIn(purpose="rescue", medication="midazolam", dose=2), config=None
    )
    sessions.end_infusion(db, nurse, sid, sessions.EndIn(reason="test end"), stopped=True, config=None)
    chart_observation(db, nurse, sid, NORMAL, config=None)
    no_wait = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    signing.discharge(
        db,
        nurse,
        sid,
        signing.DischargeIn(answers={"able_to_walk": True, "escort_present": True}),
        config=no_wait,
    )
    waste_rest(db, staff, sid)
    with pytest.raises(ConflictError, match="midazolam dose"):
        signing.sign(db, nurse, sid, config=None)
    given = doses.dispense_dose(
        db,
        nurse,
        sid,
        doses.DoseDispenseIn(
            medication_id=dose.id,
            container_id=received.container_ids[0],
            volume_drawn_ml=2.5,
            witness="physician",
            witness_password=STAFF_PASSWORD,
        ),
        config=None,
    )
    assert (given.administered_mg, given.wasted_mg, given.state) == (2.0, 0.5, "reconciled")
    assert signing.sign(db, nurse, sid, config=None) == "signed"
    mid = next(b for b in on_hand.balances(db, nurse, config=None) if b.drug == "midazolam")
    assert mid.balance_ml == 22.5 and mid.open_containers == 1


def test_two_nurses_drawing_the_last_vial_one_wins(db: Database, staff: dict[str, Actor]) -> None:
    first = checked_in_session(db, staff, mrn="S-1")
    second = checked_in_session(db, staff, mrn="S-2")
    ketamine_stock(db, staff, containers=1)
    vial = on_hand.containers_in_stock(db, staff["nurse"])[0].id
    # 10 mL (500 mg) into 500 mL at 1 mg/mL: each bag needs the whole vial.
    with db.read() as session:
        from ketaclinic.services.sessions.charting import session_row

        concentration = session_row(session, first).concentration_mg_ml
    final = 500 / concentration
    sids = iter([first, second])

    def draw() -> None:
        preparation.prepare(
            db,
            staff["nurse"],
            next(sids),
            preparation.PreparationIn(
                container_ids=[vial], volume_drawn_ml=10, final_volume_ml=final, checked_by="physician"
            ),
            config=None,
        )

    errors = at_once(draw, 2)
    assert len(errors) == 1 and isinstance(errors[0], ConflictError | NegativeBalanceError)
    assert on_hand.balances(db, staff["nurse"], config=None)[0].balance_ml == 0
    with db.read() as session:
        assert session.execute(select(LedgerEntry).where(LedgerEntry.kind == "draw")).scalars().all() != []
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


def test_the_witness_password_is_throttled_like_a_login(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid, _ = _ended_session(db, staff, tmp_path)
    wrong = waste.WasteIn(residual_ml=1, method="sink", witness="physician", witness_password="guess")
    messages = []
    for _ in range(8):
        with pytest.raises(InputError) as refused:
            waste.record_waste(db, staff["nurse"], sid, wrong, config=None)
        messages.append(refused.value.message)
    assert "try again in" in messages[-1]
    right = wrong.model_copy(update={"witness_password": STAFF_PASSWORD})
    with pytest.raises(InputError, match="try again"):  # locked out for now, even with the right one
        waste.record_waste(db, staff["nurse"], sid, right, config=None)
    assert reconciling.reconciliation(db, staff["nurse"], sid, config=None).state == "prepared"
