"""Screening records and consents: pre-fill, evaluate, sign and lock, addenda, consent rules, plan gate."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ketaclinic.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
)
from ketaclinic.screening import current_consent_template
from ketaclinic.services import eligibility
from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import Actor
from ketaclinic.services.screening import consent
from ketaclinic.services.screening import screenings as screening
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent


def _patient(db: Database, staff: dict[str, Actor], mrn: str = "MRN-S1", **overrides: Any) -> int:
    values: dict[str, Any] = {
        "mrn": mrn,
        "family_name": "Doe",
        "given_name": "Jane",
        "birth_date": "1968-03-04",
        "sex": "female",
        "weight_kg": 71.5,
        "diagnoses": ["G50.0"],
        "pain_mechanism": "neuropathic",
        "pain_duration_months": 40,
        "prior_treatments": [
            {"name": "carbamazepine", "outcome": "intolerant"},
            {"name": "baclofen", "outcome": "failed"},
        ],
    }
    values.update(overrides)
    return registry.register_patient(
        db, staff["nurse"], registry.PatientCreate.model_validate(values), config=None
    ).id


def completed_intake(prefill: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The pre-fill plus what the physician completes at the visit."""
    intake = dict(prefill)
    intake.update(
        {
            "baseline_nrs": 8,
            "conditions": [],
            "blood_pressure": {"systolic": 130, "diastolic": 80},
            "pregnant": False,
            "breastfeeding": False,
            "phq9": 7,
            "gad7": 5,
            "audit_c": 1,
            "dast10": 0,
            "medications": ["paracetamol"],
        }
    )
    intake.update(overrides)
    return intake


def full_consent(protocol_id: str = "valle2024", **overrides: Any) -> consent.ConsentIn:
    """Every risk discussed, one alternative, both signatures."""
    template = current_consent_template()
    values: dict[str, Any] = {
        "protocol_id": protocol_id,
        "template_version": template.version,
        "risks": [{"code": r.code, "discussed": True} for r in template.risks],
        "alternatives": [template.alternatives[0].code],
        "patient_signature": "Jane Doe",
        "witness": "Nina Nurse",
    }
    values.update(overrides)
    return consent.ConsentIn.model_validate(values)


def _events(db: Database, entity: str) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(
            session.execute(select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.seq))
            .scalars()
            .all()
        )


def test_prefill_comes_from_the_registry(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    prefill = screening.intake_prefill(db, staff["physician"], pid)
    assert prefill["sex"] == "female"
    assert prefill["weight_kg"] == 71.5
    assert prefill["diagnoses"] == ["G50.0"]
    assert prefill["pain_mechanism"] == "neuropathic"
    assert prefill["pain_duration_months"] == 40
    assert prefill["prior_treatments"][0] == {"name": "carbamazepine", "outcome": "intolerant"}
    assert 50 <= prefill["age_y"] <= 60
    assert "baseline_nrs" not in prefill and "blood_pressure" not in prefill


def test_create_sign_and_lock(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    doctor = staff["physician"]
    intake = completed_intake(screening.intake_prefill(db, doctor, pid))
    draft = screening.create_screening(db, doctor, pid, screening.ScreeningIn(intake=intake))
    assert draft.status == "draft" and draft.verdict == "eligible"
    assert draft.result["reasons"] == []
    assert draft.result["evidence"]["groups"][0]["group"] == "trigeminal_neuralgia"
    assert draft.rules_version == draft.result["rules_version"]

    # A draft can be edited: pregnancy makes it not eligible, with the reason and its source.
    edited = screening.update_screening(
        db, doctor, draft.id, screening.ScreeningUpdate(version=1, intake={**intake, "pregnant": True})
    )
    assert edited.verdict == "not_eligible"
    assert edited.result["reasons"][0]["code"] == "pregnancy"
    assert edited.result["reasons"][0]["source"]
    edited = screening.update_screening(
        db, doctor, draft.id, screening.ScreeningUpdate(version=edited.version, intake=intake)
    )

    with pytest.raises(StaleVersionError):  # the physician read the draft before its last edit
        screening.sign_screening(db, doctor, draft.id, screening.SignIn(version=edited.version - 1))
    signed = screening.sign_screening(db, doctor, draft.id, screening.SignIn(version=edited.version))
    assert signed.status == "signed" and signed.signed_by == "physician" and signed.signed_at
    with pytest.raises(ConflictError):
        screening.sign_screening(db, doctor, draft.id, screening.SignIn(version=signed.version))
    with pytest.raises(ConflictError):
        screening.update_screening(
            db, doctor, draft.id, screening.ScreeningUpdate(version=signed.version, intake=intake)
        )
    after = screening.add_addendum(db, doctor, draft.id, screening.AddendumIn(text="ECG reviewed: normal."))
    assert [a.text for a in after.addenda] == ["ECG reviewed: normal."]
    assert after.intake == signed.intake

    actions = [e.action for e in _events(db, "screening")]
    assert actions == ["create", "update", "update", "sign"]
    sign_event = _events(db, "screening")[-1]
    assert json.loads(sign_event.changes_json)["status"] == {"old": "draft", "new": "signed"}
    assert [e.action for e in _events(db, "screening_addendum")] == ["create"]


def test_addendum_on_a_draft_is_refused(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    intake = completed_intake(screening.intake_prefill(db, staff["physician"], pid))
    draft = screening.create_screening(db, staff["physician"], pid, screening.ScreeningIn(intake=intake))
    with pytest.raises(ConflictError):
        screening.add_addendum(db, staff["physician"], draft.id, screening.AddendumIn(text="note"))


def test_bad_intake_names_the_field_and_stores_nothing(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff, sex="male")
    intake = completed_intake(screening.intake_prefill(db, staff["physician"], pid), pregnant=True)
    with pytest.raises(InputError) as caught:
        screening.create_screening(db, staff["physician"], pid, screening.ScreeningIn(intake=intake))
    assert caught.value.field == "pregnant"
    with pytest.raises(InputError) as caught:
        screening.evaluate_intake(
            db,
            staff["physician"],
            screening.ScreeningIn(intake={**intake, "pregnant": False, "baseline_nrs": 14}),
        )
    assert caught.value.field == "baseline_nrs"
    assert screening.list_screenings(db, staff["physician"], pid) == []


def test_roles(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    intake = completed_intake(screening.intake_prefill(db, staff["physician"], pid))
    for role in ("nurse", "researcher", "admin"):
        with pytest.raises(PermissionDeniedError):
            screening.create_screening(db, staff[role], pid, screening.ScreeningIn(intake=intake))
        with pytest.raises(PermissionDeniedError):
            consent.record_consent(db, staff[role], pid, full_consent(), config=None)
    draft = screening.create_screening(db, staff["physician"], pid, screening.ScreeningIn(intake=intake))
    with pytest.raises(PermissionDeniedError):
        screening.sign_screening(db, staff["nurse"], draft.id, screening.SignIn(version=draft.version))
    assert screening.get_screening(db, staff["nurse"], draft.id).id == draft.id
    with pytest.raises(PermissionDeniedError):
        screening.get_screening(db, staff["researcher"], draft.id)
    with pytest.raises(NotFoundError):
        screening.get_screening(db, staff["nurse"], draft.id + 99)


def test_consent_rules(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    doctor = staff["physician"]
    template = current_consent_template()
    with pytest.raises(InputError) as caught:
        consent.record_consent(db, doctor, pid, full_consent("no-such-protocol"), config=None)
    assert caught.value.field == "protocol_id"
    unticked = [{"code": r.code, "discussed": True} for r in template.risks]
    unticked[1] = {"code": template.risks[1].code, "discussed": False}
    with pytest.raises(InputError) as caught:
        consent.record_consent(db, doctor, pid, full_consent(risks=unticked), config=None)
    assert caught.value.field == f"risks.{template.risks[1].code}"
    with pytest.raises(InputError):
        consent.record_consent(db, doctor, pid, full_consent(risks=unticked[:-1]), config=None)
    with pytest.raises(InputError):
        consent.record_consent(db, doctor, pid, full_consent(alternatives=["homeopathy"]), config=None)
    with pytest.raises(InputError):
        consent.record_consent(
            db, doctor, pid, full_consent(patient_signed_at=utcnow() + timedelta(hours=2)), config=None
        )
    with pytest.raises(ConflictError):
        consent.record_consent(db, doctor, pid, full_consent(template_version="0.0-old"), config=None)
    assert consent.list_consents(db, doctor, pid, config=None) == []

    # A risk not discussed but reasoned is accepted and the reason kept.
    unticked[1] = {"code": template.risks[1].code, "discussed": False, "reason": "patient declined detail"}
    signed = consent.record_consent(db, doctor, pid, full_consent(risks=unticked), config=None)
    assert signed.status == "signed" and signed.physician == "physician"
    assert signed.template_version == template.version
    assert signed.template["text"] == template.text
    assert signed.risks[1]["reason"] == "patient declined detail"

    withdrawn = consent.withdraw_consent(
        db, doctor, signed.id, consent.WithdrawIn(reason="changed mind"), config=None
    )
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawal_reason == "changed mind"
    with pytest.raises(ConflictError):
        consent.withdraw_consent(db, doctor, signed.id, consent.WithdrawIn(reason="again"), config=None)
    events = _events(db, "consent")
    assert [e.action for e in events] == ["sign", "withdraw"]
    assert events[-1].reason == "changed mind"


def test_plan_prerequisites(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    doctor = staff["physician"]

    def gate() -> list[str]:
        with db.transaction() as session:
            return eligibility.plan_prerequisites(session, pid, "valle2024")

    def consented() -> dict[int, str]:
        with db.transaction() as session:
            return eligibility.consented_protocols(session)

    assert len(gate()) == 2
    intake = completed_intake(screening.intake_prefill(db, doctor, pid))
    first = screening.create_screening(db, doctor, pid, screening.ScreeningIn(intake=intake))
    assert any("no signed screening" in item for item in gate())  # a draft does not count
    screening.sign_screening(db, doctor, first.id, screening.SignIn(version=first.version))
    assert gate() == ["no signed consent to protocol valle2024"]
    signed = consent.record_consent(db, doctor, pid, full_consent(), config=None)
    assert gate() == [] and consented() == {pid: "valle2024"}
    with db.transaction() as session:
        assert eligibility.plan_prerequisites(session, pid, "cleveland2025") == [
            "no signed consent to protocol cleveland2025"
        ]

    # A newer signed screening that is not eligible blocks, whatever came before.
    later = screening.create_screening(
        db, doctor, pid, screening.ScreeningIn(intake={**intake, "conditions": ["active_psychosis"]})
    )
    screening.sign_screening(db, doctor, later.id, screening.SignIn(version=later.version))
    assert gate() == [f"the latest signed screening (#{later.id}) is not eligible"]
    assert consented() == {}
    again = screening.create_screening(db, doctor, pid, screening.ScreeningIn(intake=intake))
    screening.sign_screening(db, doctor, again.id, screening.SignIn(version=again.version))
    assert gate() == []
    consent.withdraw_consent(db, doctor, signed.id, consent.WithdrawIn(reason="declined"), config=None)
    assert gate() == ["no signed consent to protocol valle2024"]


def test_recent_list_and_views_are_audited(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    doctor = staff["physician"]
    intake = completed_intake(screening.intake_prefill(db, doctor, pid))
    made = screening.create_screening(db, doctor, pid, screening.ScreeningIn(intake=intake))
    rows = screening.recent_screenings(db, doctor)
    assert [(r.id, r.patient_name, r.verdict) for r in rows] == [(made.id, "Doe, Jane", "eligible")]
    screening.get_screening(db, staff["nurse"], made.id)
    views = [e for e in _events(db, "screening") if e.action == "view"]
    assert [(e.actor, e.entity_id) for e in views] == [("nurse", str(made.id))]
    with pytest.raises(InputError):
        screening.recent_screenings(db, doctor, limit=0)


def test_demo_screens_and_consents_realistically(sqlite_db: Database) -> None:
    from ketaclinic.services import demo
    from ketaclinic.store.tables.screening import Screening

    context = demo.seed_demo(sqlite_db, patient_count=14, config=None)
    with sqlite_db.transaction() as session:
        verdicts = {s.patient_id: s.verdict for s in session.execute(select(Screening)).scalars()}
        consented = eligibility.consented_protocols(session)
        for patient_id, protocol_id in consented.items():
            assert eligibility.plan_prerequisites(session, patient_id, protocol_id) == []
    assert set(verdicts.values()) == {"eligible", "eligible_with_precautions", "not_eligible"}
    assert 6 <= len(consented) < len(context.patient_ids)
    assert {"valle2024", "cleveland2025", "schwartzman2009"} <= set(consented.values())
    assert all(verdicts[p] != "not_eligible" for p in consented)


def test_clinic_rate_is_shown_beside_the_published_evidence(
    db: Database, staff: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ketaclinic.screening import ClinicRate

    monkeypatch.setattr(
        screening,
        "clinic_response_rates",
        lambda session: {"trigeminal_neuralgia": ClinicRate(n=20, responders=13)},
    )
    pid = _patient(db, staff)
    intake = completed_intake(screening.intake_prefill(db, staff["physician"], pid))
    made = screening.create_screening(db, staff["physician"], pid, screening.ScreeningIn(intake=intake))
    group = made.result["evidence"]["groups"][0]
    assert group["clinic_rate"] == {"n": 20, "responders": 13, "rate": 0.65}
    assert made.result["evidence"]["published_cohorts"][0]["n"] == 45
