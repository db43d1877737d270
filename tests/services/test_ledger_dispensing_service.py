"""The ledger at the chair on both backends: the bag at the session's concentration, witnessed waste, the
signing gate, the discrepancy alert, a charted midazolam dose, the last-vial race, the witness throttled."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import ConflictError, InputError, PermissionDeniedError
from ketaclinic.ledger import NegativeBalanceError
from ketaclinic.services.ledger import catalogue, doses, on_hand, preparation, receipts, reconciling, waste
from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions import signing
from ketaclinic.services.sessions.events import MedicationIn, chart_medication
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerEntry
from ketaclinic.store.tables.sessions import SessionAlert
from tests.conftest import STAFF_PASSWORD
from tests.ledger_support import SUPPLIER, ketamine_stock, prepare_bag, waste_rest
from tests.services.sessions_support import at_once, checked_in_session, clinic_ending_policy

NORMAL = {"sbp": 125, "dbp": 78, "hr": 75, "spo2": 98, "rr": 14, "rass": 0, "nrs": 4}


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
