"""Consent content: versioned text, the reference's risks and the alternatives."""

from __future__ import annotations

from ketaclinic.screening import ConsentTemplate, current_consent_template


def test_consent_is_versioned_with_text() -> None:
    template = current_consent_template()
    assert isinstance(template, ConsentTemplate)
    assert template.version == "1.0"
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
