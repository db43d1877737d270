"""The record page's registry forms: how they name fields and choices to people, and how they are read."""

from __future__ import annotations

from typing import Any, get_args

from starlette.datastructures import FormData

from ketaclinic.screening.consent import REPRESENTATIVE_RELATIONS
from ketaclinic.services.patients.records import AllergySeverity, AllergyStatus, ContactChannel
from ketaclinic.web.forms import FieldWords, blank, text

WORDS: FieldWords = {
    "substance": ("Substance", ""),
    "substance_code": ("Substance code", ""),
    "reaction": ("Reaction", ""),
    "severity": ("Severity", ""),
    "allergies": ("Allergies", ""),
    "allergy_id": ("Allergy", ""),
    "email": ("E-mail", ""),
    "phone": ("Phone", ""),
    "address": ("Address", ""),
    "preferred_channel": ("Preferred channel", ""),
    "consent_to_contact": ("Agrees to be contacted", ""),
    "consent_on": ("Date of that answer", ""),
    "name": ("Name", ""),
    "identifier": ("Identifier", ""),
    "reason": ("Reason", ""),
    "version": ("Record version", ""),
}
# The record's stored field behind each input of the contact and referrer forms (what a stale edit names).
STORED_FIELD: dict[str, dict[str, str]] = {
    "contact": {
        "email": "contact_email",
        "phone": "contact_phone",
        "address": "contact_address",
        "preferred_channel": "contact_channel",
        "consent_to_contact": "contact_consent",
        "consent_on": "contact_consent_on",
    },
    "referrer": {
        "name": "referrer_name",
        "identifier": "referrer_identifier",
        "address": "referrer_address",
        "email": "referrer_email",
    },
}
_LABELS = {
    "mild": "Mild",
    "moderate": "Moderate",
    "severe": "Severe",
    "unknown": "Unknown",
    "email": "E-mail",
    "sms": "SMS",
    "phone": "Phone",
    "post": "Post",
    "not_asked": "Not asked yet",
    "no_known_allergies": "No known allergies",
    "allergies_recorded": "Allergies recorded",
}


def vocabulary() -> dict[str, dict[str, str]]:
    """Each fixed choice of the registry, code -> label, in the order the service declares them."""
    return {
        "severities": {code: _LABELS[code] for code in get_args(AllergySeverity)},
        "channels": {code: _LABELS[code] for code in get_args(ContactChannel)},
        "allergy_status": {code: _LABELS[code] for code in get_args(AllergyStatus)},
        "relations": dict(REPRESENTATIVE_RELATIONS),
    }


def typed(form: FormData, *names: str) -> dict[str, Any]:
    """The named fields as typed, trimmed; blank ones are absent so the service names what is missing."""
    values = {name: blank(text(form, name).strip()) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def contact_from_form(form: FormData) -> dict[str, Any]:
    """The contact form as the service's input; the consent answer is a yes/no radio."""
    values = typed(form, "version", "email", "phone", "address", "preferred_channel", "consent_on", "reason")
    answered = {"yes": True, "no": False}.get(text(form, "consent_to_contact"))
    if answered is not None:
        values["consent_to_contact"] = answered
    return values
