"""The registry's allergies, contact details and referring physician: validated, audited, versioned."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ketaclinic.errors import ConflictError, NotFoundError, PermissionDeniedError, StaleVersionError
from ketaclinic.services.patients import allergies, contact, registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.audit_support import latest_event
from tests.factories import make_patient


def _version(db: Database, staff: dict[str, Actor], patient_id: int) -> int:
    return registry.view_patient(db, staff["nurse"], patient_id).version


def _allergy(version: int, /, **overrides: Any) -> allergies.AllergyIn:
    values: dict[str, Any] = {
        "version": version,
        "substance": "Penicillin",
        "reaction": "hives",
        "severity": "moderate",
    }
    return allergies.AllergyIn.model_validate(values | overrides)


def test_allergies_start_not_asked_then_no_known_is_its_own_state(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"])
    assert registry.view_patient(db, staff["nurse"], pid).allergy_status == "not_asked"
    done = allergies.record_no_known_allergies(
        db, staff["nurse"], pid, allergies.NoKnownAllergiesIn(version=_version(db, staff, pid))
    )
    assert done.allergy_status == "no_known_allergies" and done.no_known_allergies_by == "nurse"
    event = latest_event(db, "patient")
    changes = json.loads(event.changes_json)
    assert changes["allergy_status"] == {"old": "not_asked", "new": "no_known_allergies"}
    assert changes["version"]["new"] == changes["version"]["old"] + 1


def test_an_allergy_is_recorded_audited_and_clears_no_known(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    allergies.record_no_known_allergies(
        db, staff["nurse"], pid, allergies.NoKnownAllergiesIn(version=_version(db, staff, pid))
    )
    before = _version(db, staff, pid)
    out = allergies.add_allergy(db, staff["physician"], pid, _allergy(before, substance_code="764146007"))
    assert out.allergy_status == "allergies_recorded" and out.no_known_allergies_at is None
    assert [(a.substance, a.reaction, a.severity, a.substance_code) for a in out.allergies] == [
        ("Penicillin", "hives", "moderate", "764146007")
    ]
    assert out.version == before + 1
    event = latest_event(db, "patient")
    assert (event.action, event.actor) == ("add_allergy", "physician")
    changes = json.loads(event.changes_json)
    assert changes["allergy"]["new"]["substance"] == "Penicillin"
    assert changes["allergy_status"] == {"old": "no_known_allergies", "new": "allergies_recorded"}


def test_no_known_allergies_is_refused_while_one_is_on_record(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    allergies.add_allergy(db, staff["nurse"], pid, _allergy(_version(db, staff, pid)))
    with pytest.raises(ConflictError, match="Penicillin") as refused:
        allergies.record_no_known_allergies(
            db, staff["nurse"], pid, allergies.NoKnownAllergiesIn(version=_version(db, staff, pid))
        )
    assert refused.value.field == "allergies"


def test_a_struck_out_allergy_is_kept_with_who_and_why_and_never_deleted(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"])
    added = allergies.add_allergy(db, staff["nurse"], pid, _allergy(_version(db, staff, pid)))
    allergy_id = added.allergies[0].id
    strike = allergies.AllergyStrikeOutIn(version=added.version, reason="wrong patient's chart")
    out = allergies.strike_out_allergy(db, staff["physician"], pid, allergy_id, strike)
    assert len(out.allergies) == 1
    row = out.allergies[0]
    assert row.struck_out_by == "physician" and row.strike_reason == "wrong patient's chart"
    assert out.allergy_status == "not_asked"  # the question is open again, not answered "none"
    event = latest_event(db, "patient")
    assert (event.action, event.reason) == ("strike_out_allergy", "wrong patient's chart")
    again = allergies.AllergyStrikeOutIn(version=out.version, reason="again")
    with pytest.raises(ConflictError):
        allergies.strike_out_allergy(db, staff["physician"], pid, allergy_id, again)
    with pytest.raises(NotFoundError):
        allergies.strike_out_allergy(db, staff["physician"], pid, allergy_id + 99, again)


def test_an_allergy_edit_from_a_stale_version_changes_nothing(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    read = _version(db, staff, pid)
    allergies.add_allergy(db, staff["nurse"], pid, _allergy(read))
    with pytest.raises(StaleVersionError) as stale:
        allergies.add_allergy(db, staff["physician"], pid, _allergy(read, substance="Latex"))
    assert {"allergy", "allergy_status"} <= {c.field for c in stale.value.changes}
    assert [a.substance for a in registry.view_patient(db, staff["nurse"], pid).allergies] == ["Penicillin"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"substance": ""}, "substance"),
        ({"reaction": "  "}, "reaction"),
        ({"severity": "deadly"}, "severity"),
        ({"version": 0}, "version"),
    ],
)
def test_bad_allergy_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as bad:
        allergies.AllergyIn.model_validate(
            {"version": 1, "substance": "Latex", "reaction": "rash", "severity": "mild"} | change
        )
    assert [e["loc"][0] for e in bad.value.errors()] == [field]


def test_a_researcher_cannot_record_an_allergy(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    with pytest.raises(PermissionDeniedError):
        allergies.add_allergy(db, staff["researcher"], pid, _allergy(1))


def _contact(version: int, **overrides: Any) -> contact.ContactIn:
    values: dict[str, Any] = {
        "version": version,
        "email": "Jane.Doe@Example.ORG",
        "phone": "+41 (79) 123-45-67",
        "preferred_channel": "sms",
        "consent_to_contact": True,
        "consent_on": date.today().isoformat(),
    }
    return contact.ContactIn.model_validate(values | overrides)


def test_contact_details_are_normalised_stored_and_audited(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    read = _version(db, staff, pid)
    out = contact.set_contact(db, staff["nurse"], pid, _contact(read, reason="first visit"))
    assert out.contact.email == "Jane.Doe@example.org"
    assert out.contact.phone == "+41791234567"
    assert (out.contact.preferred_channel, out.contact.consent_to_contact) == ("sms", True)
    assert out.version == read + 1
    event = latest_event(db, "patient")
    changes = json.loads(event.changes_json)
    assert changes["contact_phone"] == {"old": None, "new": "+41791234567"}
    assert event.reason == "first visit"
    same = contact.set_contact(db, staff["nurse"], pid, _contact(out.version))
    assert same.version == out.version  # nothing changed: no edit, no new version


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"email": "jane@"}, ["email"]),
        ({"phone": "12"}, ["phone"]),
        ({"phone": "call me"}, ["phone"]),
        ({"phone": None, "preferred_channel": "phone"}, ["preferred_channel"]),
        ({"email": None, "preferred_channel": "email"}, ["preferred_channel"]),
        ({"preferred_channel": "post"}, ["preferred_channel"]),
        ({"preferred_channel": "pigeon"}, ["preferred_channel"]),
        ({"consent_on": None}, ["consent_on"]),
        ({"consent_on": (date.today() + timedelta(days=1)).isoformat()}, ["consent_on"]),
        ({"consent_to_contact": None}, ["consent_on"]),
        ({"email": "jane@", "phone": "12", "consent_on": None}, ["email", "phone", "consent_on"]),
    ],
)
def test_bad_contact_details_name_every_field_at_once(change: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationError) as bad:
        _contact(1, **change)
    assert [e["loc"][0] for e in bad.value.errors()] == fields


def test_a_channel_whose_detail_failed_is_named_once(db: Database) -> None:
    with pytest.raises(ValidationError) as bad:
        _contact(1, email="not-an-address", preferred_channel="email")
    assert [e["loc"][0] for e in bad.value.errors()] == ["email"]


def test_the_referring_physician_needs_an_address_or_an_email(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(ValidationError) as bad:
        contact.ReferrerIn.model_validate({"version": 1, "name": "Dr Ana Silva", "identifier": "NPI 12"})
    assert [e["loc"][0] for e in bad.value.errors()] == ["email"]
    pid = make_patient(db, staff["nurse"])
    read = _version(db, staff, pid)
    out = contact.set_referrer(
        db,
        staff["physician"],
        pid,
        contact.ReferrerIn(version=read, name="Dr Ana Silva", identifier="NPI 12", address="1 Main St"),
    )
    assert out.referrer is not None
    assert (out.referrer.name, out.referrer.identifier, out.referrer.address) == (
        "Dr Ana Silva",
        "NPI 12",
        "1 Main St",
    )
    assert json.loads(latest_event(db, "patient").changes_json)["referrer_name"]["new"] == "Dr Ana Silva"
    with pytest.raises(StaleVersionError):
        contact.set_referrer(
            db, staff["physician"], pid, contact.ReferrerIn(version=read, name="Dr B", email="b@example.org")
        )


def test_no_known_allergies_recorded_twice_writes_once(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"])
    read = _version(db, staff, pid)
    first = allergies.record_no_known_allergies(
        db, staff["nurse"], pid, allergies.NoKnownAllergiesIn(version=read)
    )
    event = latest_event(db, "patient")
    again = allergies.record_no_known_allergies(
        db, staff["nurse"], pid, allergies.NoKnownAllergiesIn(version=first.version)
    )  # a double click
    assert again.version == first.version == read + 1
    assert latest_event(db, "patient").seq == event.seq
