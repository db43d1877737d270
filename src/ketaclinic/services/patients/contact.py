"""How the clinic reaches a patient (e-mail, phone, address, preferred channel, consent to be contacted)
and who referred them (name, identifier, address or e-mail): replaced whole, validated, audited; each an
edit of the patient's record that names the version it read (a stale one is refused)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from ketaclinic.inputs import CleanText, IsoDate, SingleLine
from ketaclinic.services.audit import field_changes
from ketaclinic.services.patients.records import ContactChannel, PatientOut, load_patient, patient_out
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.versions import ReadVersion, audited_edit, check_version
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient

Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), CleanText]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), CleanText]
# ITU-T E.164: at most 15 digits; fewer than 6 is no dialable number anywhere.
PHONE_DIGITS = (6, 15)
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
# The detail a preferred channel needs before the clinic can use it.
CHANNEL_NEEDS = {"email": "email", "sms": "phone", "phone": "phone", "post": "address"}


def normalised_phone(value: str) -> str:
    """A phone number as digits with an optional leading +; separators people type are dropped.

    >>> normalised_phone("+41 (79) 123-45.67")
    '+41791234567'
    """
    compact = _PHONE_SEPARATORS.sub("", value.strip())
    digits = compact.removeprefix("+")
    low, high = PHONE_DIGITS
    if not digits.isdigit() or not low <= len(digits) <= high:
        raise ValueError(f"a phone number has {low} to {high} digits, optionally after a +")
    return compact


class ContactIn(BaseModel):
    """The patient's contact details, replaced whole; the preferred channel needs its detail."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    email: EmailStr | None = None
    phone: Annotated[str, SingleLine] | None = None
    address: Address | None = None
    preferred_channel: ContactChannel | None = Field(default=None, validate_default=True)
    consent_to_contact: bool | None = None
    consent_on: IsoDate | None = Field(default=None, validate_default=True)
    reason: Reason = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalised_phone(value) if value and value.strip() else None

    @field_validator("preferred_channel")
    @classmethod
    def _channel_reachable(cls, value: str | None, info: ValidationInfo) -> str | None:
        needed = CHANNEL_NEEDS.get(value or "")
        if needed and _given_blank(info, needed):
            raise ValueError(f"{value} is preferred but no {needed.replace('email', 'e-mail')} is given")
        return value

    @field_validator("consent_on")
    @classmethod
    def _consent_dated(cls, value: date | None, info: ValidationInfo) -> date | None:
        if "consent_to_contact" not in info.data:
            return value
        if info.data["consent_to_contact"] is None:
            if value is not None:
                raise ValueError("a date is given but not whether the patient agreed to be contacted")
            return None
        if value is None:
            raise ValueError("give the date the patient answered whether they agree to be contacted")
        if value > date.today():
            raise ValueError("the date of the answer is in the future")
        return value


class ReferrerIn(BaseModel):
    """The referring physician: a name, an identifier if known, and an address or an e-mail."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
    identifier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), SingleLine] | None = (
        None
    )
    address: Address | None = None
    email: EmailStr | None = Field(default=None, validate_default=True)
    reason: Reason = ""

    @field_validator("email")
    @classmethod
    def _reachable(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and _given_blank(info, "address"):
            raise ValueError("give the referring physician's address or e-mail")
        return value


def _given_blank(info: ValidationInfo, name: str) -> bool:
    """Whether an earlier field is blank; one that failed its own check is absent and reported there."""
    return name in info.data and info.data[name] is None


def _contact(patient: Patient) -> dict[str, Any]:
    return {
        "contact_email": patient.contact_email,
        "contact_phone": patient.contact_phone,
        "contact_address": patient.contact_address,
        "contact_channel": patient.contact_channel,
        "contact_consent": patient.contact_consent,
        "contact_consent_on": patient.contact_consent_on.isoformat() if patient.contact_consent_on else None,
    }


def _referrer(patient: Patient) -> dict[str, Any]:
    return {
        "referrer_name": patient.referrer_name,
        "referrer_identifier": patient.referrer_identifier,
        "referrer_address": patient.referrer_address,
        "referrer_email": patient.referrer_email,
    }


def set_contact(db: Database, actor: Actor, patient_id: int, data: ContactIn) -> PatientOut:
    """Replace the patient's contact details; old and new values and the reason are audited."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id, for_update=True)
        before = _contact(patient)
        check_version(session, "patient", patient, patient.id, data.version, before)
        patient.contact_email = data.email
        patient.contact_phone = data.phone
        patient.contact_address = data.address
        patient.contact_channel = data.preferred_channel
        patient.contact_consent = data.consent_to_contact
        patient.contact_consent_on = data.consent_on
        changes = field_changes(before, _contact(patient))
        if changes:
            audited_edit(session, actor, patient, "patient", "update", changes, data.version, data.reason)
        return patient_out(patient)


def set_referrer(db: Database, actor: Actor, patient_id: int, data: ReferrerIn) -> PatientOut:
    """Record or replace the referring physician; old and new values and the reason are audited."""
    require(actor, Permission.PATIENTS_EDIT)
    with db.transaction() as session:
        patient = load_patient(session, patient_id, for_update=True)
        before = _referrer(patient)
        check_version(session, "patient", patient, patient.id, data.version, before)
        patient.referrer_name = data.name
        patient.referrer_identifier = data.identifier or None
        patient.referrer_address = data.address
        patient.referrer_email = data.email
        changes = field_changes(before, _referrer(patient))
        if changes:
            audited_edit(session, actor, patient, "patient", "update", changes, data.version, data.reason)
        return patient_out(patient)
