"""Sample intakes for the screening tests."""

from __future__ import annotations

import copy
from typing import Any

ELIGIBLE_TN: dict[str, Any] = {
    "intake_version": "1",
    "age_y": 58,
    "sex": "female",
    "weight_kg": 70.0,
    "diagnoses": ["G50.0"],
    "pain_mechanism": "neuropathic",
    "pain_duration_months": 36,
    "baseline_nrs": 8,
    "prior_treatments": [
        {"name": "Carbamazepine", "outcome": "intolerant"},
        {"name": "baclofen", "outcome": "failed"},
    ],
    "conditions": [],
    "blood_pressure": {"systolic": 128, "diastolic": 78},
    "pregnant": False,
    "breastfeeding": False,
    "phq9": 6,
    "gad7": 4,
    "audit_c": 2,
    "dast10": 0,
    "medications": ["paracetamol"],
}


def eligible_tn() -> dict[str, Any]:
    """A fresh copy of an intake that screens `eligible` (TN, refractoriness documented)."""
    return copy.deepcopy(ELIGIBLE_TN)
