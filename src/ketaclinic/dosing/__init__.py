"""Dosing: units and pump arithmetic, the drug library and its limits, protocols, titration and dose plans.

Pure package (standard library, NumPy, ketaclinic.pharmacology). See docs/drug-library.md and
docs/protocols.md.
"""

from __future__ import annotations

from ketaclinic.dosing.checks import (
    HardLimitError,
    LimitCheck,
    Verdict,
    bolus_checks,
    check_bolus,
    check_charted_session_total,
    check_concentration,
    check_rate,
    check_series_total,
    check_session_total,
    rate_checks,
    refuse_hard,
    with_subject,
    worst_check,
    worst_verdict,
)
from ketaclinic.dosing.dose_check import DoseCheck, check_dose
from ketaclinic.dosing.library import (
    Concentrations,
    DrugContext,
    DrugLibrary,
    LimitSet,
    LimitValue,
    load_library,
)
from ketaclinic.dosing.plan import (
    DEFAULT_MODELS,
    DosePlan,
    Segment,
    SessionPlan,
)
from ketaclinic.dosing.plan_building import build_plan
from ketaclinic.dosing.prediction import SessionPrediction
from ketaclinic.dosing.protocol_files import get_protocol, load_protocols
from ketaclinic.dosing.protocols import (
    DosingBlock,
    Param,
    Premedication,
    Protocol,
    Schedule,
    Titration,
)
from ketaclinic.dosing.pump import (
    dose_mg_from_per_kg,
    mg_delivered,
    minutes_per_container,
    pump_ml_h,
    rate_mg_h_for_dose,
    rate_mg_h_from_per_kg,
    rate_mg_h_from_pump,
    rate_mg_kg_h,
    volume_ml,
)
from ketaclinic.dosing.titration import (
    Envelope,
    RateStep,
    TitrationSuggestion,
    library_hard_cap_mg_h,
    next_titration_step,
    titration_envelope,
)
from ketaclinic.dosing.units import DoseQuantity, RateQuantity, parse_dose, parse_rate
from ketaclinic.dosing.weight import (
    DosingWeight,
    adjusted_body_weight_kg,
    dosing_weight,
    ideal_body_weight_kg,
)

__all__ = [
    "DEFAULT_MODELS",
    "Concentrations",
    "DoseCheck",
    "DosePlan",
    "DoseQuantity",
    "DosingBlock",
    "DosingWeight",
    "DrugContext",
    "DrugLibrary",
    "Envelope",
    "HardLimitError",
    "LimitCheck",
    "LimitSet",
    "LimitValue",
    "Param",
    "Premedication",
    "Protocol",
    "RateQuantity",
    "RateStep",
    "Schedule",
    "Segment",
    "SessionPlan",
    "SessionPrediction",
    "Titration",
    "TitrationSuggestion",
    "Verdict",
    "adjusted_body_weight_kg",
    "bolus_checks",
    "build_plan",
    "check_bolus",
    "check_charted_session_total",
    "check_concentration",
    "check_dose",
    "check_rate",
    "check_series_total",
    "check_session_total",
    "dose_mg_from_per_kg",
    "dosing_weight",
    "get_protocol",
    "ideal_body_weight_kg",
    "library_hard_cap_mg_h",
    "load_library",
    "load_protocols",
    "mg_delivered",
    "minutes_per_container",
    "next_titration_step",
    "parse_dose",
    "parse_rate",
    "pump_ml_h",
    "rate_checks",
    "rate_mg_h_for_dose",
    "rate_mg_h_from_per_kg",
    "rate_mg_h_from_pump",
    "rate_mg_kg_h",
    "refuse_hard",
    "titration_envelope",
    "volume_ml",
    "with_subject",
    "worst_check",
    "worst_verdict",
]
