"""Outcomes: PRO instruments and scoring, responder definitions, follow-up schedule, cohort statistics."""

from ketaclinic.outcomes.analysis import analyse_cohort, parse_compare, validate_compare
from ketaclinic.outcomes.cohort import Cohort, CohortRecord
from ketaclinic.outcomes.cohort_csv import CohortFileError, RowError, read_cohort_csv
from ketaclinic.outcomes.definitions import (
    DEFAULT_DEFINITION,
    OutcomeDefinition,
    evaluate_responders,
    get_definition,
    list_definitions,
    sustained_relief_weeks,
)
from ketaclinic.outcomes.instruments import (
    nrs_rating,
    score_bpi,
    score_gad7,
    score_pgic,
    score_phq9,
)
from ketaclinic.outcomes.schedule import FollowupDue, followup_schedule
from ketaclinic.outcomes.stats import compare_proportions, wilson_interval
from ketaclinic.outcomes.survival import kaplan_meier, logrank

__all__ = [
    "DEFAULT_DEFINITION",
    "Cohort",
    "CohortFileError",
    "CohortRecord",
    "FollowupDue",
    "OutcomeDefinition",
    "RowError",
    "analyse_cohort",
    "compare_proportions",
    "evaluate_responders",
    "followup_schedule",
    "get_definition",
    "kaplan_meier",
    "list_definitions",
    "logrank",
    "nrs_rating",
    "parse_compare",
    "read_cohort_csv",
    "score_bpi",
    "score_gad7",
    "score_pgic",
    "score_phq9",
    "sustained_relief_weeks",
    "validate_compare",
    "wilson_interval",
]
