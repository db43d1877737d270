"""Demo step: signed screenings (a few not eligible or with precautions) and consents."""

from __future__ import annotations

from typing import Any

from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.eligibility import TREATABLE_VERDICTS
from ketaclinic.services.screening import consent
from ketaclinic.services.screening.screenings import (
    ScreeningIn,
    SignIn,
    create_screening,
    intake_prefill,
    sign_screening,
)
from ketaclinic.store.db import Database

# --- demo -----------------------------------------------------------------------------------------

# Demo patients (by position) whose findings make the verdict realistic rather than all-eligible.
_DEMO_FINDINGS: dict[int, dict[str, Any]] = {
    3: {"conditions": ["glaucoma"]},
    6: {"blood_pressure": {"systolic": 188, "diastolic": 112}},
    9: {"phq9": 21},
    12: {"conditions": ["active_substance_use"], "audit_c": 9, "dast10": 6},
    15: {"conditions": ["cardiovascular_risk"]},
    18: {"conditions": ["history_of_mania"]},
    22: {"conditions": ["active_psychosis"]},
}
# Trials the physician documents at the visit that the registry did not hold yet (by diagnosis code);
# demo patient 2 keeps the gap so the demo shows "refractoriness not demonstrated".
_DEMO_DOCUMENTED_AT_VISIT: dict[str, list[dict[str, str]]] = {
    "G90.50": [{"name": "physiotherapy (graded, 12 weeks)", "outcome": "failed"}],
    "G89.4": [
        {"name": "duloxetine", "outcome": "intolerant"},
        {"name": "physiotherapy (pain programme)", "outcome": "failed"},
    ],
}
_DEMO_UNDOCUMENTED = frozenset({2})
_DEMO_UNSCREENED = frozenset({26, 27})  # new referrals: not screened yet
_DEMO_DRAFT = frozenset({25})  # screened, awaiting signature
_DEMO_AWAITING_CONSENT = frozenset({24})
_DEMO_WITHDRAWN = frozenset({20})


def _demo_protocol(index: int, diagnoses: list[str]) -> str:
    if any(code.startswith("G90.5") for code in diagnoses):  # CRPS
        return "schwartzman2009" if index % 2 else "inpatient-5day-weight"
    return "cleveland2025" if index % 5 == 0 else "valle2024"


def seed(db: Database, context: DemoContext) -> None:
    """Signed screenings for most demo patients (a few not eligible or with precautions) and consents."""
    from ketaclinic.screening import current_consent_template

    rng = context.rng
    template = current_consent_template()
    for index, patient_id in enumerate(context.patient_ids):
        if index in _DEMO_UNSCREENED:
            continue
        doctor = context.physician if index % 3 else context.second_physician
        prefill = intake_prefill(db, doctor, patient_id)
        female = prefill["sex"] == "female"
        intake = prefill | {
            "baseline_nrs": rng.randint(6, 9),
            "conditions": [],
            "blood_pressure": {"systolic": rng.randint(112, 152), "diastolic": rng.randint(68, 94)},
            "pregnant": False,
            "breastfeeding": False,
            "phq9": rng.randint(3, 15),
            "gad7": rng.randint(2, 12),
            "audit_c": rng.randint(0, 4) if female else rng.randint(0, 5),
            "dast10": rng.randint(0, 1),
            "medications": rng.sample(["paracetamol", "omeprazole", "sertraline", "levothyroxine"], 2),
        }
        intake |= _DEMO_FINDINGS.get(index, {})
        if index not in _DEMO_UNDOCUMENTED:
            for code in intake["diagnoses"]:
                intake["prior_treatments"] = intake["prior_treatments"] + _DEMO_DOCUMENTED_AT_VISIT.get(
                    code, []
                )
        made = create_screening(db, doctor, patient_id, ScreeningIn(intake=intake))
        if index in _DEMO_DRAFT:
            continue
        sign_screening(db, doctor, made.id, SignIn(version=made.version))
        if made.verdict not in TREATABLE_VERDICTS or index in _DEMO_AWAITING_CONSENT:
            continue
        record = consent.record_consent(
            db,
            doctor,
            patient_id,
            consent.ConsentIn(
                protocol_id=_demo_protocol(index, intake["diagnoses"]),
                template_version=template.version,
                risks=[consent.RiskDiscussed(code=r.code, discussed=True) for r in template.risks],
                alternatives=[a.code for a in template.alternatives],
                patient_signature=context.full_names[patient_id],
                witness=context.nurse.username,
            ),
            config=context.config,
        )
        if index in _DEMO_WITHDRAWN:
            consent.withdraw_consent(
                db,
                doctor,
                record.id,
                consent.WithdrawIn(reason="Patient chose to continue standard care."),
                config=context.config,
            )
