"""Consent content: versioned text, risks and alternatives with published sources; who may sign."""

from __future__ import annotations

import re

import pytest

from ketaclinic.screening import ConsentTemplate, current_consent_template
from ketaclinic.screening.consent import REPRESENTATIVE_RELATIONS, signature_matches
from ketaclinic.screening.rules import load_rules


def test_consent_is_versioned_with_text() -> None:
    template = current_consent_template()
    assert isinstance(template, ConsentTemplate)
    assert template.version == "1.1"
    assert "ketamine" in template.text
    assert template.status == "local-policy"


def test_risks_cover_the_reference_side_effect_list() -> None:
    codes = {r.code for r in current_consent_template().risks}
    assert codes == {
        "dissociation",
        "hallucinations",
        "raised_blood_pressure",
        "nausea",
        "delirium",
        "nightmares",
        "laryngospasm",
        "hepatotoxicity",
        "bladder_renal_damage",
    }
    assert all(r.source for r in current_consent_template().risks)


def test_alternatives() -> None:
    codes = [a.code for a in current_consent_template().alternatives]
    assert codes == ["oral_or_intranasal_ketamine", "esketamine_nasal_spray", "standard_care"]


# Words that point at the team's own notes or tickets, never at something a patient or auditor can read.
INTERNAL_WORDS = ("digest", "issue", "shared", "reference", "product requirement", ".md")


def _shown_sources() -> list[str]:
    template = current_consent_template()
    return [template.source] + [i.source for i in template.risks + template.alternatives]


def test_consent_sources_cite_publications_or_local_policy() -> None:
    for source in _shown_sources():
        assert not any(word in source.lower() for word in INTERNAL_WORDS), source
        assert source.startswith("Local policy") or re.search(r"\b(19|20)\d\d\b", source), source


def test_screening_rule_sources_cite_no_internal_notes() -> None:
    rules = load_rules()
    shown = [r.source for r in [*rules.conditions.values(), *rules.flag_rules.values()]]
    shown += [t.source for t in rules.required_tests] + [s.source for s in rules.score_reviews]
    for source in shown:
        assert not any(word in source.lower() for word in INTERNAL_WORDS), source


@pytest.mark.parametrize(
    "typed",
    ["José García", "jose garcia", "  GARCÍA   josé ", "García, José", "Garcia Jose"],
)
def test_a_signature_matches_the_patient_ignoring_case_accents_order_and_spaces(typed: str) -> None:
    assert signature_matches(typed, "José", "García")


@pytest.mark.parametrize("typed", ["", "José", "José Garcí", "Maria García", "José García Jr"])
def test_a_signature_of_another_name_does_not_match(typed: str) -> None:
    assert not signature_matches(typed, "José", "García")


def test_representative_relations_are_a_fixed_list_with_other() -> None:
    assert list(REPRESENTATIVE_RELATIONS) == [
        "parent",
        "guardian",
        "spouse_partner",
        "health_care_proxy",
        "other",
    ]
