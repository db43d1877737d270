"""Apply the screening rules to an intake: verdict, every reason with source and grade, tests, evidence."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.screening.evidence import ClinicRate, EvidenceSummary, evidence_for
from ketaclinic.screening.intake import Intake
from ketaclinic.screening.refractoriness import MissingPrerequisite
from ketaclinic.screening.rules import Rule, ScreeningRules, Severity, load_rules


class Verdict(StrEnum):
    """The screening outcome, best to worst."""

    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_PRECAUTIONS = "eligible_with_precautions"
    NOT_ELIGIBLE = "not_eligible"


VERDICT_RANK = {Verdict.ELIGIBLE: 0, Verdict.ELIGIBLE_WITH_PRECAUTIONS: 1, Verdict.NOT_ELIGIBLE: 2}

# Which verdict a reason of each severity forces at least.
SEVERITY_VERDICT = {
    Severity.INFO: Verdict.ELIGIBLE,
    Severity.REVIEW: Verdict.ELIGIBLE_WITH_PRECAUTIONS,
    Severity.PRECAUTION: Verdict.ELIGIBLE_WITH_PRECAUTIONS,
    Severity.PREREQUISITE: Verdict.NOT_ELIGIBLE,
    Severity.CONTRAINDICATION: Verdict.NOT_ELIGIBLE,
}
_SEVERITY_ORDER = list(Severity)

LOCAL_POLICY_GRADE = "local-policy"
MOOD_INSTRUMENTS = ("phq9", "gad7")
SUBSTANCE_INSTRUMENTS = ("audit_c", "dast10")


class Reason(BaseModel):
    """Why the verdict is what it is: one finding with its source and grade."""

    model_config = ConfigDict(frozen=True)

    code: str
    text: str
    source: str
    grade: str
    status: Status
    severity: Severity


class RequiredTest(BaseModel):
    """A pre-infusion test the intake calls for, and what called for it."""

    model_config = ConfigDict(frozen=True)

    code: str
    label: str
    because: list[str]
    source: str
    status: Status


class ScoreBaseline(BaseModel):
    """A questionnaire score kept as a baseline to follow; `flagged` when at/over the review threshold."""

    model_config = ConfigDict(frozen=True)

    instrument: str
    score: int | None
    review_threshold: int | None
    flagged: bool
    threshold_source: str | None
    threshold_status: Status | None


class ScreeningResult(BaseModel):
    """The whole answer of `evaluate`; `to_json_dict()` is the CLI and API body."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    reasons: list[Reason]
    required_tests: list[RequiredTest]
    missing_prerequisites: list[MissingPrerequisite]
    evidence: EvidenceSummary
    mood: dict[str, ScoreBaseline]
    substance_screening: dict[str, ScoreBaseline]
    intake_version: str
    rules_version: str
    rules_overridden_by: str | None

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (enums as strings)."""
        return self.model_dump(mode="json")


def worst_verdict(reasons: list[Reason]) -> Verdict:
    """The verdict the most severe reason forces (eligible when there is none)."""
    verdicts = [SEVERITY_VERDICT[r.severity] for r in reasons]
    return max(verdicts, key=VERDICT_RANK.__getitem__, default=Verdict.ELIGIBLE)


def _from_rule(rule: Rule) -> Reason:
    return Reason(
        code=rule.code,
        text=rule.text,
        source=rule.source,
        grade=rule.grade,
        status=rule.status,
        severity=rule.severity,
    )


def _bp_over_threshold(intake: Intake, rules: ScreeningRules) -> bool:
    threshold = rules.blood_pressure
    bp = intake.blood_pressure
    return bp.systolic > threshold.systolic_mmhg or bp.diastolic > threshold.diastolic_mmhg


def _bp_reason(intake: Intake, rules: ScreeningRules) -> Reason:
    threshold = rules.blood_pressure
    bp = intake.blood_pressure
    return Reason(
        code=threshold.code,
        text=(
            f"Blood pressure {bp.systolic}/{bp.diastolic} mmHg at intake is over the clinic threshold "
            f"{threshold.systolic_mmhg}/{threshold.diastolic_mmhg} mmHg: not eligible until controlled."
        ),
        source=threshold.source,
        grade=LOCAL_POLICY_GRADE,
        status=threshold.status,
        severity=threshold.severity,
    )


def _scores(intake: Intake, rules: ScreeningRules, instruments: tuple[str, ...]) -> dict[str, ScoreBaseline]:
    reviews = {r.instrument: r for r in rules.score_reviews}
    out = {}
    for instrument in instruments:
        score: int | None = getattr(intake, instrument)
        review = reviews.get(instrument)
        out[instrument] = ScoreBaseline(
            instrument=instrument,
            score=score,
            review_threshold=review.threshold if review else None,
            flagged=bool(review and score is not None and score >= review.threshold),
            threshold_source=review.source if review else None,
            threshold_status=review.status if review else None,
        )
    return out


def _score_reasons(intake: Intake, rules: ScreeningRules) -> list[Reason]:
    reasons = []
    for review in rules.score_reviews:
        score: int | None = getattr(intake, review.instrument)
        if score is not None and score >= review.threshold:
            reasons.append(
                Reason(
                    code=review.code,
                    text=f"{review.text} (score {score}, threshold {review.threshold})",
                    source=review.source,
                    grade=LOCAL_POLICY_GRADE,
                    status=review.status,
                    severity=Severity.REVIEW,
                )
            )
    return reasons


def _refractoriness(intake: Intake, rules: ScreeningRules) -> tuple[list[Reason], list[MissingPrerequisite]]:
    reasons: list[Reason] = []
    missing: list[MissingPrerequisite] = []
    groups = dict.fromkeys(get_diagnosis(code).group for code in intake.diagnoses)
    for group in groups:
        gaps = rules.refractoriness.missing(group, intake.prior_treatment_pairs())
        if not gaps:
            continue
        missing.extend(gaps)
        entry = rules.refractoriness.groups[group]
        reasons.append(
            Reason(
                code="refractoriness_not_demonstrated",
                text=(
                    f"Refractoriness not demonstrated for {group.replace('_', ' ')}: "
                    + "; ".join(g.text for g in gaps)
                    + ". Not eligible until documented."
                ),
                source=entry.source,
                grade=LOCAL_POLICY_GRADE,
                status=entry.status,
                severity=Severity.PREREQUISITE,
            )
        )
    return reasons, missing


def _required_tests(
    intake: Intake, rules: ScreeningRules, *, bp_over: bool, planned_high_frequent_dosing: bool
) -> list[RequiredTest]:
    tests = []
    for test in rules.required_tests:
        because = [rules.conditions[c].label for c in test.when_conditions if c in intake.conditions]
        if test.when_bp_over_threshold and bp_over:
            because.append("blood pressure over the intake threshold")
        if test.when_high_frequent_dosing and planned_high_frequent_dosing:
            because.append("high or frequent dosing planned")
        if because:
            tests.append(
                RequiredTest(
                    code=test.code, label=test.label, because=because, source=test.source, status=test.status
                )
            )
    return tests


def evaluate(
    intake: Intake,
    *,
    rules: ScreeningRules | None = None,
    clinic_rates: Mapping[str, ClinicRate] | None = None,
    planned_high_frequent_dosing: bool = False,
) -> ScreeningResult:
    """Screen one intake: the verdict is the worst any reason forces; every reason is listed.

    Examples
    --------
    >>> from ketaclinic.screening import parse_intake
    >>> intake = {
    ...     "intake_version": "1", "age_y": 58, "sex": "female", "weight_kg": 70,
    ...     "diagnoses": ["G50.0"], "pain_mechanism": "neuropathic", "pain_duration_months": 36,
    ...     "baseline_nrs": 8, "blood_pressure": {"systolic": 128, "diastolic": 78},
    ...     "prior_treatments": [
    ...         {"name": "carbamazepine", "outcome": "intolerant"},
    ...         {"name": "baclofen", "outcome": "failed"},
    ...     ],
    ...     "conditions": ["cardiovascular_risk"], "pregnant": False, "breastfeeding": False,
    ... }
    >>> result = evaluate(parse_intake(intake))
    >>> result.verdict.value, [t.code for t in result.required_tests]
    ('eligible', ['ecg'])
    >>> hypertensive = dict(intake, blood_pressure={"systolic": 190, "diastolic": 100})
    >>> refused = evaluate(parse_intake(hypertensive))
    >>> refused.verdict.value, [(r.code, r.severity.value) for r in refused.reasons]
    ('not_eligible', [('intake_bp_over_threshold', 'contraindication'), ('cardiovascular_risk', 'info')])
    """
    rules = rules or load_rules()
    reasons = [_from_rule(rule) for flag, rule in rules.flag_rules.items() if getattr(intake, flag)]
    reasons += [_from_rule(rules.conditions[code]) for code in intake.conditions]
    bp_over = _bp_over_threshold(intake, rules)
    if bp_over:
        reasons.append(_bp_reason(intake, rules))
    reasons += _score_reasons(intake, rules)
    refractory_reasons, missing = _refractoriness(intake, rules)
    reasons += refractory_reasons
    # Most severe first; the sort is stable so rule order is kept within a severity.
    reasons.sort(key=lambda r: -_SEVERITY_ORDER.index(r.severity))
    return ScreeningResult(
        verdict=worst_verdict(reasons),
        reasons=reasons,
        required_tests=_required_tests(
            intake, rules, bp_over=bp_over, planned_high_frequent_dosing=planned_high_frequent_dosing
        ),
        missing_prerequisites=missing,
        evidence=evidence_for(intake.diagnoses, clinic_rates),
        mood=_scores(intake, rules, MOOD_INSTRUMENTS),
        substance_screening=_scores(intake, rules, SUBSTANCE_INSTRUMENTS),
        intake_version=intake.intake_version,
        rules_version=rules.version,
        rules_overridden_by=rules.overridden_by,
    )
