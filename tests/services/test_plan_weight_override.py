"""A plan's weight override: a reason is required (422 naming weight_reason); beyond the local-policy
fraction of the recorded weight it is a soft breach that needs a second clinician."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans import records as plan_records
from ketaclinic.services.plans.records import list_plans
from ketaclinic.store.db import Database
from tests import factories

PROTOCOL = "schwartzman2009"
_MRNS = itertools.count(1)


def _patient(db: Database, staff: dict[str, Actor], weight_kg: float = 72.5) -> int:
    return factories.treatable_patient(
        db, staff, mrn=f"WO-{next(_MRNS)}", protocol_id=PROTOCOL, weight_kg=weight_kg
    )


def _plan(
    db: Database, staff: dict[str, Actor], pid: int, weight_kg: float, reason: str = ""
) -> plan_records.PlanOut:
    return plans.create_plan(
        db,
        staff["physician"],
        pid,
        plans.PlanCreate(protocol_id=PROTOCOL, weight_kg=weight_kg, weight_reason=reason),
        config=None,
    )


def test_an_override_without_a_reason_is_a_422_naming_weight_reason(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff)
    for blank in ("", "   "):
        with pytest.raises(InputError) as refused:
            _plan(db, staff, pid, 7.2, blank)
        assert refused.value.field == "weight_reason"
    assert list_plans(db, staff["physician"], patient_id=pid) == []


def test_the_recorded_weight_given_again_is_no_override(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    plan = _plan(db, staff, pid, 72.5)
    assert not plan.soft_breaches


def test_a_small_override_with_a_reason_needs_no_cosignature(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    plan = _plan(db, staff, pid, 75.0, "weighed on the ward scale today")
    assert not plan.soft_breaches
    assert plan.inputs["recorded_weight_kg"] == 72.5
    assert factories.approve(db, staff, plan).cosigned_by is None


def test_a_large_override_is_a_soft_breach_needing_the_second_clinician(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff)
    plan = _plan(db, staff, pid, 60.0, "lost 12 kg, weighed today")
    assert plan.verdict == "soft"
    [breach] = [b for b in plan.soft_breaches if b.quantity == "weight_kg"]
    assert breach.message.startswith("weight override: 60 kg is 17% below the recorded weight 72.5 kg")
    assert breach.reason == "lost 12 kg, weighed today"
    assert breach.status == "local-policy"
    assert breach.limit == pytest.approx(65.25)
    # Its own plan-level check, not one of the series' checks.
    [kept] = plan.plan["weight_override_checks"]
    assert kept["quantity"] == "weight_kg" and kept["message"] == breach.message
    assert all(c["quantity"] != "weight_kg" for c in plan.plan["series_checks"])
    approved = plans.approve_plan(db, staff["physician"], plan.id, config=None)
    assert approved.status == "awaiting_cosign"
    with pytest.raises(ConflictError):
        plans.cosign_plan(db, staff["physician"], plan.id)
    assert plans.cosign_plan(db, staff["physician2"], plan.id).status == "approved"


def test_a_clinic_tightening_the_fraction_makes_the_draft_compute_differently(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = _patient(db, staff)
    plan = _plan(db, staff, pid, 78.0, "weighed today")
    assert not plan.soft_breaches
    (tmp_path / "weight_checks.toml").write_text("discrepancy_fraction = 0.05\n", encoding="utf-8")
    with pytest.raises(ConflictError) as changed:
        plans.approve_plan(db, staff["physician"], plan.id, config=tmp_path)
    assert changed.value.field == "plan"
    # The override breach is a plan-level check, so the series checks are the first to differ.
    assert "weight override check count 0 -> 1" in changed.value.message


def test_the_reason_field_is_bounded() -> None:
    with pytest.raises(ValidationError):
        plans.PlanCreate(protocol_id=PROTOCOL, weight_kg=70, weight_reason="x" * 501)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weight_kg=st.floats(min_value=40.0, max_value=110.0))
def test_an_override_is_a_breach_exactly_when_beyond_the_fraction(
    db: Database, staff: dict[str, Actor], weight_kg: float
) -> None:
    pid = _patient(db, staff, weight_kg=80.0)
    plan = _plan(db, staff, pid, weight_kg, "weighed today")
    beyond = abs(weight_kg - 80.0) / 80.0 > 0.10 + 1e-9
    assert any(b.quantity == "weight_kg" for b in plan.soft_breaches) == beyond
