"""The screening screens' forms read as the intake and consent inputs (field helpers in web/forms.py)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from ketaclinic.screening import current_consent_template
from ketaclinic.web.forms import FieldWords, chosen, prior_treatments, text

# How the intake and consent forms name their fields to people, with the unit a bound's message names.
INTAKE_WORDS: FieldWords = {
    "intake_version": ("Intake version", ""),
    "age_y": ("Age", "years"),
    "sex": ("Sex", ""),
    "weight_kg": ("Weight", "kg"),
    "diagnoses": ("Diagnoses", ""),
    "pain_mechanism": ("Pain mechanism", ""),
    "pain_duration_months": ("Pain duration", "months"),
    "baseline_nrs": ("Baseline pain (NRS)", ""),
    "blood_pressure": ("Blood pressure", "mm[Hg]"),
    "pregnant": ("Pregnant", ""),
    "breastfeeding": ("Breastfeeding", ""),
    "phq9": ("PHQ-9", ""),
    "gad7": ("GAD-7", ""),
    "audit_c": ("AUDIT-C", ""),
    "dast10": ("DAST-10", ""),
    "conditions": ("Documented conditions", ""),
    "prior_treatments": ("Prior treatments", ""),
    "medications": ("Current medications", ""),
}
CONSENT_WORDS: FieldWords = {
    "protocol_id": ("Protocol", ""),
    "template_version": ("Consent version", ""),
    "risks": ("Risks discussed", ""),
    "alternatives": ("Alternatives discussed", ""),
    "signed_by": ("Signed by", ""),
    "patient_signature": ("Signature", ""),
    "representative_relation": ("Representative's relation", ""),
    "representative_relation_detail": ("Relation in words", ""),
    "patient_signed_at": ("Signature time", ""),
    "witness": ("Witnessed by", ""),
}


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """A form string as a number when it is one; otherwise as given, so validation names the field."""
    raw = str(value).strip() if value is not None else ""
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if kind is int and number.is_integer() else number


def _yes_no(value: Any) -> bool | None:
    return {"yes": True, "no": False}.get(str(value or ""))


INT_FIELDS = ("age_y", "baseline_nrs", "phq9", "gad7", "audit_c", "dast10")
FLOAT_FIELDS = ("weight_kg", "pain_duration_months")
OPTIONAL_SCORES = ("phq9", "gad7", "audit_c", "dast10")


def intake_from_form(form: FormData) -> dict[str, Any]:
    """The intake JSON from the HTML form (blank required fields are left out, so they are named)."""
    intake: dict[str, Any] = {"intake_version": text(form, "intake_version")}
    for name in INT_FIELDS:
        intake[name] = _number(form.get(name), int)
    for name in FLOAT_FIELDS:
        intake[name] = _number(form.get(name), float)
    for name in ("sex", "pain_mechanism"):
        intake[name] = form.get(name) or None
    intake["diagnoses"] = chosen(form, "diagnoses")
    intake["conditions"] = chosen(form, "conditions")
    intake["prior_treatments"] = prior_treatments(form)
    systolic = _number(form.get("systolic"), int)
    diastolic = _number(form.get("diastolic"), int)
    if systolic is not None or diastolic is not None:
        intake["blood_pressure"] = {"systolic": systolic, "diastolic": diastolic}
    intake["pregnant"] = _yes_no(form.get("pregnant"))
    intake["breastfeeding"] = _yes_no(form.get("breastfeeding"))
    intake["medications"] = [line.strip() for line in text(form, "medications").splitlines() if line.strip()]
    # Scores not done are sent as null; every other blank is left out so the error names it.
    return {k: v for k, v in intake.items() if v is not None or k in OPTIONAL_SCORES}


def consent_from_form(form: FormData) -> dict[str, Any]:
    """The consent input from the HTML form: a checkbox per risk, a reason box beside each."""
    template = current_consent_template()
    return {
        "protocol_id": text(form, "protocol_id"),
        "template_version": text(form, "template_version") or None,
        "risks": [
            {
                "code": r.code,
                "discussed": form.get(f"risk_{r.code}") == "yes",
                "reason": text(form, f"reason_{r.code}"),
            }
            for r in template.risks
        ],
        "alternatives": chosen(form, "alternatives"),
        "patient_signature": text(form, "patient_signature"),
        "signed_by": text(form, "signed_by") or "patient",
        "representative_relation": text(form, "representative_relation") or None,
        "representative_relation_detail": text(form, "representative_relation_detail"),
        "witness": text(form, "witness"),
    }
