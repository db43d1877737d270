"""Who signs a consent: the patient in their own name, or a legal representative with their relation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ketaclinic.errors import InputError, ManyInputsError
from ketaclinic.screening import current_consent_template
from ketaclinic.services.permissions import Actor
from ketaclinic.services.screening import consent
from ketaclinic.store.db import Database
from tests.audit_support import latest_event
from tests.factories import make_patient


def _consent(**overrides: Any) -> consent.ConsentIn:
    template = current_consent_template()
    values: dict[str, Any] = {
        "protocol_id": "valle2024",
        "template_version": template.version,
        "risks": [{"code": r.code, "discussed": True} for r in template.risks],
        "alternatives": [template.alternatives[0].code],
        "patient_signature": "José García",
        "witness": "Nina Nurse",
    }
    return consent.ConsentIn.model_validate(values | overrides)


@pytest.fixture
def patient_id(db: Database, staff: dict[str, Actor]) -> int:
    return make_patient(db, staff["nurse"], family_name="García", given_name="José")


@pytest.mark.parametrize("typed", ["José García", "jose  garcia", "GARCIA, José", " García José "])
def test_the_patient_signs_in_their_own_name(
    db: Database, staff: dict[str, Actor], patient_id: int, typed: str
) -> None:
    made = consent.record_consent(
        db, staff["physician"], patient_id, _consent(patient_signature=typed), config=None
    )
    assert (made.signed_by, made.signed_as, made.representative_relation) == ("patient", "the patient", None)
    audited = json.loads(latest_event(db, "consent").changes_json)
    assert audited["signed_by"]["new"] == "patient" and audited["signature"]["new"] == typed.strip()


def test_another_name_is_refused_naming_the_signature(
    db: Database, staff: dict[str, Actor], patient_id: int
) -> None:
    with pytest.raises(InputError, match="not the patient's name") as refused:
        consent.record_consent(
            db, staff["physician"], patient_id, _consent(patient_signature="Maria García"), config=None
        )
    assert refused.value.field == "patient_signature"
    assert consent.list_consents(db, staff["physician"], patient_id, config=None) == []


def test_a_representative_signs_with_a_relation_from_the_list(
    db: Database, staff: dict[str, Actor], patient_id: int
) -> None:
    made = consent.record_consent(
        db,
        staff["physician"],
        patient_id,
        _consent(
            patient_signature="Maria García", signed_by="representative", representative_relation="parent"
        ),
        config=None,
    )
    assert (made.patient_signature, made.signed_by, made.representative_relation) == (
        "Maria García",
        "representative",
        "parent",
    )
    assert made.signed_as == "legal representative (parent)"
    audited = json.loads(latest_event(db, "consent").changes_json)
    assert audited["representative_relation"]["new"] == "parent"


def test_other_relation_needs_words_and_shows_them(
    db: Database, staff: dict[str, Actor], patient_id: int
) -> None:
    other = {
        "patient_signature": "Ana Ruiz",
        "signed_by": "representative",
        "representative_relation": "other",
    }
    with pytest.raises(InputError) as refused:
        consent.record_consent(db, staff["physician"], patient_id, _consent(**other), config=None)
    assert refused.value.field == "representative_relation_detail"
    made = consent.record_consent(
        db,
        staff["physician"],
        patient_id,
        _consent(**other, representative_relation_detail="court-appointed deputy"),
        config=None,
    )
    assert made.signed_as == "legal representative (court-appointed deputy)"


@pytest.mark.parametrize("relation", [None, "", "neighbour"])
def test_a_representative_without_a_listed_relation_is_refused(
    db: Database, staff: dict[str, Actor], patient_id: int, relation: str | None
) -> None:
    data = _consent(
        patient_signature="Ana Ruiz", signed_by="representative", representative_relation=relation
    )
    with pytest.raises(InputError) as refused:
        consent.record_consent(db, staff["physician"], patient_id, data, config=None)
    assert refused.value.field == "representative_relation"


def test_every_consent_problem_is_named_at_once(
    db: Database, staff: dict[str, Actor], patient_id: int
) -> None:
    template = current_consent_template()
    data = _consent(
        protocol_id="nonsense",
        risks=[{"code": r.code, "discussed": False} for r in template.risks[:2]],
        patient_signature="Somebody Else",
    )
    with pytest.raises(ManyInputsError) as refused:
        consent.record_consent(db, staff["physician"], patient_id, data, config=None)
    fields = [p.field for p in refused.value.problems]
    assert fields[0] == "protocol_id" and fields[-1] == "patient_signature"
    assert {f"risks.{r.code}" for r in template.risks} <= set(fields)
    assert consent.list_consents(db, staff["physician"], patient_id, config=None) == []
