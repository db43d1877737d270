"""Screening for IV ketamine: structured intake, rules with sources and grades, verdict, evidence, consent."""

from ketaclinic.screening.consent import ConsentItem, ConsentTemplate, current_consent_template
from ketaclinic.screening.diagnoses import (
    Diagnosis,
    PainMechanism,
    PriorTreatmentOutcome,
    get_diagnosis,
    list_diagnoses,
)
from ketaclinic.screening.evidence import ClinicRate, EvidenceSummary, GroupEvidence, evidence_for
from ketaclinic.screening.intake import (
    INTAKE_VERSION,
    BloodPressure,
    Intake,
    PriorTreatment,
    Sex,
    intake_json_schema,
    parse_intake,
)
from ketaclinic.screening.refractoriness import MissingPrerequisite
from ketaclinic.screening.rules import CONDITION_CODES, ScreeningRules, Severity, load_rules
from ketaclinic.screening.verdict import Reason, RequiredTest, ScreeningResult, Verdict, evaluate

__all__ = [
    "CONDITION_CODES",
    "INTAKE_VERSION",
    "BloodPressure",
    "ClinicRate",
    "ConsentItem",
    "ConsentTemplate",
    "Diagnosis",
    "EvidenceSummary",
    "GroupEvidence",
    "Intake",
    "MissingPrerequisite",
    "PainMechanism",
    "PriorTreatment",
    "PriorTreatmentOutcome",
    "Reason",
    "RequiredTest",
    "ScreeningResult",
    "ScreeningRules",
    "Severity",
    "Sex",
    "Verdict",
    "current_consent_template",
    "evaluate",
    "evidence_for",
    "get_diagnosis",
    "intake_json_schema",
    "list_diagnoses",
    "load_rules",
    "parse_intake",
]
