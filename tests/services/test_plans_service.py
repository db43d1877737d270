"""Dose plans service: hard limits refused, soft limits need reasons and a second clinician, locks, audit."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

import ketaclinic.data
from ketaclinic.dosing import HardLimitError
from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.services import eligibility
from ketaclinic.services.patients.registry import PatientCreate, register_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import contract
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans.records import list_plans, view_plan
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.screening import consent as consent_service
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.plans import DosePlanRow
from tests import factories


def _patient(db: Database, staff: dict[str, Actor], weight_kg: float | None = 70.0, mrn: str = "PL-1") -> int:
    return register_patient(
        db,
        staff["physician"],
        PatientCreate(
            mrn=mrn,
            family_name="Plan",
            given_name="Pat",
            birth_date=date(1968, 3, 1),
            sex="female",
            weight_kg=weight_kg,
            height_cm=165,
            diagnoses=["G50.0"],
        ),
        config=None,
    ).id


_make_treatable = factories.make_treatable


SHIPPED_PROTOCOLS = Path(ketaclinic.data.__file__).resolve().parent / "protocols"


def _clinic_protocol(config_dir: Path, dose_mg: int = 80) -> str:
    """A clinic's own protocol file (the consensus test infusion under another id); its id."""
    text = (SHIPPED_PROTOCOLS / "cohen2018-test.toml").read_text(encoding="utf-8")
    text = text.replace('id = "cohen2018-test"', 'id = "clinic-test"').replace(
        "dose_mg = { value = 80,", f"dose_mg = {{ value = {dose_mg},"
    )
    folder = config_dir / "protocols"
    folder.mkdir(exist_ok=True)
    (folder / "clinic-test.toml").write_text(text, encoding="utf-8")
    return "clinic-test"


def _plan_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.execute(select(func.count()).select_from(DosePlanRow)).scalar_one())


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.entity == "dose_plan", AuditEvent.action == action)
            ).scalars()
        )


def test_clean_plan_uses_the_registry_weight_and_is_approved_without_cosign(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff)
    _make_treatable(db, staff, pid, "cohen2018-test")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
    )
    assert plan.status == "draft" and plan.verdict == "ok" and not plan.needs_cosign
    assert plan.dosing_weight_kg == 70.0 and plan.inputs["weight_from_record"] is True
    segment = plan.plan["sessions"][0]["segments"][0]
    assert segment["rate_mg_h"] == pytest.approx(32.0)  # 80 mg over 150 min
    assert segment["pump_ml_h"] == pytest.approx(32.0)  # at 1 mg/mL
    approved = plans.approve_plan(db, staff["physician"], plan.id, config=None)
    assert approved.status == "approved" and approved.approved_by == staff["physician"].username
    with db.transaction() as session:
        assert contract.approved_plan_ids(session, pid) == [plan.id]
        planned = contract.planned_session(session, plan.id, 1)
        with pytest.raises(InputError, match="no session 2"):
            contract.planned_session(session, plan.id, 2)
    assert (
        planned.weight_kg == 70.0 and planned.context_id == "outpatient" and planned.cadence == "outpatient"
    )
    assert planned.segments[0].pump_ml_h == pytest.approx(32.0)
    assert planned.model_key == "domino1984"
    create = _events(db, "create")[0]
    assert json.loads(create.changes_json)["plan"]["new"]["max_pump_ml_h"] == pytest.approx(32.0)
    assert _events(db, "approve")


def test_hard_limit_is_refused_and_nothing_is_stored(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    with pytest.raises(HardLimitError) as refused:
        plans.create_plan(
            db,
            staff["physician"],
            pid,
            plans.PlanCreate(protocol_id="valle2024", weight_kg=20, weight_reason="weighed today"),
            config=None,
        )
    assert "hard max 2" in str(refused.value) and "Cohen 2018" in str(refused.value)
    assert _plan_count(db) == 0
    (event,) = _events(db, "refuse")
    assert json.loads(event.changes_json)["check"]["new"]["limit"] == 2.0


def test_soft_breach_needs_reasons_then_a_second_clinicians_cosignature(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff, weight_kg=30.0)  # 32 mg/h for 30 kg: above the 1 mg/kg/h soft maximum
    _make_treatable(db, staff, pid, "cohen2018-test")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
    )
    assert plan.verdict == "soft" and len(plan.soft_breaches) == 1
    assert plan.soft_breaches[0].source and "Pennsylvania 2020" in plan.soft_breaches[0].source
    with pytest.raises(ConflictError, match="need a reason"):
        plans.approve_plan(db, staff["physician"], plan.id, config=None)
    with pytest.raises(InputError):
        plans.give_soft_reasons(
            db,
            staff["physician"],
            plan.id,
            plans.SoftReasonsIn(version=plan.version, reasons=[{"check": 5, "reason": "test dose"}]),
        )
    plans.give_soft_reasons(
        db,
        staff["physician"],
        plan.id,
        plans.SoftReasonsIn(
            version=plan.version,
            reasons=[{"check": 0, "reason": "Test dose for a light patient, reassess after"}],
        ),
    )
    awaiting = plans.approve_plan(db, staff["physician"], plan.id, config=None)
    assert awaiting.status == "awaiting_cosign"
    with db.transaction() as session:
        assert contract.approved_plan_ids(session, pid) == []
        with pytest.raises(ConflictError):
            contract.planned_session(session, plan.id, 1)
    with pytest.raises(ConflictError, match="second clinician"):
        plans.cosign_plan(db, staff["physician"], plan.id)
    with pytest.raises(PermissionDeniedError):
        plans.cosign_plan(db, staff["researcher"], plan.id)
    done = plans.cosign_plan(db, staff["nurse"], plan.id)
    assert done.status == "approved" and done.cosigned_by == staff["nurse"].username
    (override,) = _events(db, "soft_override")
    assert override.reason.startswith("Test dose")  # the reason as given
    assert _events(db, "cosign")[0].actor == staff["nurse"].username


def test_approval_blocked_by_missing_screening_and_consent(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
    )
    with pytest.raises(ConflictError) as blocked:
        plans.approve_plan(db, staff["physician"], plan.id, config=None)
    assert "signed screening" in str(blocked.value) and "consent" in str(blocked.value)
    assert view_plan(db, staff["physician"], plan.id).status == "draft"


def test_approved_plan_is_locked_and_cancel_keeps_the_record(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    _make_treatable(db, staff, pid, "cohen2018-test")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
    )
    plans.approve_plan(db, staff["physician"], plan.id, config=None)
    with pytest.raises(ConflictError, match="locked"):
        plans.approve_plan(db, staff["physician2"], plan.id, config=None)
    with pytest.raises(ConflictError, match="locked"):
        plans.give_soft_reasons(
            db,
            staff["physician"],
            plan.id,
            plans.SoftReasonsIn(version=3, reasons=[{"check": 0, "reason": "late"}]),
        )
    cancelled = plans.cancel_plan(db, staff["physician"], plan.id, plans.CancelIn(reason="weight changed"))
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "weight changed"
    with pytest.raises(ConflictError):
        plans.cancel_plan(db, staff["physician"], plan.id, plans.CancelIn(reason="again"))
    with db.transaction() as session:
        assert contract.approved_plan_ids(session, pid) == []
    assert _events(db, "cancel")[0].reason == "weight changed"


def test_bad_input_and_permissions(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff, weight_kg=None)
    with pytest.raises(InputError, match="no recorded weight"):
        plans.create_plan(
            db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
        )
    with pytest.raises(NotFoundError):
        plans.create_plan(
            db, staff["physician"], pid, plans.PlanCreate(protocol_id="nope", weight_kg=70), config=None
        )
    with pytest.raises(PermissionDeniedError):
        plans.create_plan(
            db, staff["nurse"], pid, plans.PlanCreate(protocol_id="cohen2018-test", weight_kg=70), config=None
        )
    with pytest.raises(InputError):
        plans.create_plan(
            db,
            staff["physician"],
            pid,
            plans.PlanCreate(protocol_id="cohen2018-test", weight_kg=70, concentration_mg_ml=10),
            config=None,
        )
    with pytest.raises(NotFoundError):
        view_plan(db, staff["physician"], 999)
    assert _plan_count(db) == 0
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test", weight_kg=80), config=None
    )
    assert plan.dosing_weight_kg == 80 and plan.inputs["weight_from_record"] is False
    with db.transaction() as session, pytest.raises(ConflictError, match="only an approved plan"):
        contract.planned_session(session, plan.id, 1)
    listed = list_plans(db, staff["nurse"], statuses=("draft",))
    assert [p.id for p in listed] == [plan.id]
    assert list_plans(db, staff["physician"], patient_id=pid, statuses=("approved",)) == []


def test_clinic_override_tightens_the_library_for_every_plan(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    (tmp_path / "drug_library.toml").write_text(
        "[context.outpatient.rate_mg_kg_h]\n"
        'soft_max = { value = 0.3, source = "Clinic pharmacy 2026", status = "local-policy" }\n'
        'hard_max = { value = 0.4, source = "Clinic pharmacy 2026", status = "local-policy" }\n',
        encoding="utf-8",
    )
    reference = clinic_library(tmp_path)
    assert reference.library.override_path == tmp_path / "drug_library.toml"
    pid = _patient(db, staff)
    with pytest.raises(HardLimitError, match="Clinic pharmacy 2026"):
        plans.create_plan(
            db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=tmp_path
        )
    assert _plan_count(db) == 0


def test_demo_plans(sqlite_db: Database) -> None:
    from ketaclinic.services import demo

    demo.seed_demo(sqlite_db, patient_count=14, config=None)
    with sqlite_db.transaction() as session:
        rows = list(session.execute(select(DosePlanRow)).scalars())
        consented = eligibility.consented_protocols(session)
    approved = [r for r in rows if r.status == "approved"]
    assert consented and {r.patient_id for r in approved} == set(consented)
    assert any(r.status == "draft" for r in rows)
    for row in approved:
        if json.loads(row.plan_json)["soft_breaches"]:
            assert row.cosigned_by and row.cosigned_by != row.approved_by


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        (
            'soft_max = { value = 0.3, source = "Clinic pharmacy", status = "local-policy" }\n'
            'hard_max = { value = 0.4, source = "Clinic pharmacy", status = "local-policy" }\n',
            "now refuses",
        ),
        (
            'soft_max = { value = 0.4, source = "Clinic pharmacy", status = "local-policy" }\n',
            "computes differently under today's drug library or protocol "
            "(session 1 check 1 verdict ok -> soft)",
        ),
    ],
)
def test_approval_rechecks_the_draft_against_todays_library(
    db: Database, staff: dict[str, Actor], tmp_path: Path, limits: str, needle: str
) -> None:
    pid = _patient(db, staff)
    _make_treatable(db, staff, pid, "cohen2018-test")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=tmp_path
    )
    assert plan.verdict == "ok"  # 32 mg/h at 70 kg = 0.46 mg/kg/h under the shipped library
    (tmp_path / "drug_library.toml").write_text(
        "[context.outpatient.rate_mg_kg_h]\n" + limits, encoding="utf-8"
    )
    with pytest.raises(ConflictError, match=re.escape(needle)) as refused:
        plans.approve_plan(db, staff["physician"], plan.id, config=tmp_path)
    assert refused.value.field == "plan"
    assert view_plan(db, staff["physician"], plan.id).status == "draft"
    assert _events(db, "approve") == []
    (tmp_path / "drug_library.toml").unlink()
    assert plans.approve_plan(db, staff["physician"], plan.id, config=tmp_path).status == "approved"


def _refusal(db: Database, staff: dict[str, Actor], plan_id: int, config: Path) -> ConflictError:
    """The 409 refusing approval; the draft stays a draft and no approval is audited."""
    with pytest.raises(ConflictError) as refused:
        plans.approve_plan(db, staff["physician"], plan_id, config=config)
    assert refused.value.field == "plan" and "create a new plan" in refused.value.message
    assert view_plan(db, staff["physician"], plan_id).status == "draft"
    assert _events(db, "approve") == []
    return refused.value


def test_approval_refuses_a_draft_whose_clinic_protocol_was_removed(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = _patient(db, staff)
    protocol_id = _clinic_protocol(tmp_path)
    _make_treatable(db, staff, pid, protocol_id, tmp_path)
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id=protocol_id), config=tmp_path
    )
    (tmp_path / "protocols" / "clinic-test.toml").unlink()
    refused = _refusal(db, staff, plan.id, tmp_path)
    assert "the protocol 'clinic-test' is no longer available" in refused.message


def test_approval_refuses_a_concentration_no_longer_in_the_library(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    def concentrations(values: str) -> None:
        (tmp_path / "drug_library.toml").write_text(
            "[context.outpatient.concentrations_mg_ml]\n"
            f"values = [{values}]\n"
            'source = "Clinic pharmacy 2026"\nstatus = "local-policy"\n',
            encoding="utf-8",
        )

    concentrations("1.0, 2.0")
    pid = _patient(db, staff)
    _make_treatable(db, staff, pid, "cohen2018-test")
    plan = plans.create_plan(
        db,
        staff["physician"],
        pid,
        plans.PlanCreate(protocol_id="cohen2018-test", concentration_mg_ml=2.0),
        config=tmp_path,
    )
    assert plan.concentration_mg_ml == 2.0
    concentrations("1.0")
    refused = _refusal(db, staff, plan.id, tmp_path)
    assert "the concentration 2 mg/mL is no longer in the library" in refused.message
    concentrations("2.0, 1.0")  # listed again (in another order): the same plan
    assert plans.approve_plan(db, staff["physician"], plan.id, config=tmp_path).status == "approved"


def test_approval_refuses_a_changed_rate_naming_the_difference(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = _patient(db, staff)
    protocol_id = _clinic_protocol(tmp_path)
    _make_treatable(db, staff, pid, protocol_id, tmp_path)
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id=protocol_id), config=tmp_path
    )
    _clinic_protocol(tmp_path, dose_mg=75)  # 75 mg over 150 min: 30 mg/h instead of 32
    refused = _refusal(db, staff, plan.id, tmp_path)
    assert refused.message == (
        "this draft computes differently under today's drug library or protocol "
        "(session 1 segment 1 rate_mg_h 32 -> 30): create a new plan"
    )


def test_approval_ignores_message_wording_pk_curves_and_json_spelling(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff, weight_kg=45.0)  # 50 mg/h treatment sessions: above 1 mg/kg/h, soft
    _make_treatable(db, staff, pid, "valle2024")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="valle2024"), config=None
    )
    with db.transaction() as session:
        row = session.get(DosePlanRow, plan.id)
        assert row is not None and "Vallé" in row.plan_json
        document = json.loads(row.plan_json)
        first = document["sessions"][0]
        first["checks"][0]["message"] = "worded as an older release worded it"
        document["soft_breaches"][0]["message"] = "an older wording of the soft breach"
        first["prediction"]["peak_cp_ng_ml"] += 7.5  # as under an earlier pk_models.toml
        first["prediction"]["curve"]["cp_ng_ml"][10] += 3.0
        # as stored before the canonical spelling: non-ASCII escaped
        row.plan_json = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert "Vall\\u00e9" in row.plan_json
    plans.give_soft_reasons(
        db,
        staff["physician"],
        plan.id,
        plans.SoftReasonsIn(
            version=plan.version + 1,  # the document rewritten above is a write: it moved the version
            reasons=[
                {"check": b.index, "reason": "Light patient, per Vallé 2024"} for b in plan.soft_breaches
            ],
        ),
    )
    assert plans.approve_plan(db, staff["physician"], plan.id, config=None).status == "awaiting_cosign"


def test_a_clinic_protocol_can_be_consented_and_its_plan_approved(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = _patient(db, staff)
    protocol_id = _clinic_protocol(tmp_path)
    assert protocol_id in consent_service.protocol_choices(tmp_path)
    assert protocol_id not in consent_service.protocol_choices(None)
    with pytest.raises(InputError) as unknown:  # without the clinic's config the protocol is unknown
        _make_treatable(db, staff, pid, protocol_id)
    assert unknown.value.field == "protocol_id"
    _make_treatable(db, staff, pid, protocol_id, tmp_path)
    (signed,) = consent_service.list_consents(db, staff["physician"], pid, config=tmp_path)
    assert signed.protocol_id == protocol_id and signed.protocol_name.startswith("Consensus test infusion")
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id=protocol_id), config=tmp_path
    )
    approved = plans.approve_plan(db, staff["physician"], plan.id, config=tmp_path)
    assert approved.status == "approved" and approved.protocol_id == protocol_id
