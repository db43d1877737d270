"""`ketaclinic patients ...`: allergies, contact details and the referring physician from a terminal."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ketaclinic.cli.output import emit_json
from ketaclinic.errors import InputError

patients_app = typer.Typer(
    help="The patient registry: allergies, contact details, referring physician.", no_args_is_help=True
)

PatientId = Annotated[int, typer.Argument(help="The patient.")]
RecordVersion = Annotated[
    int | None,
    typer.Option(
        "--version", help="The record version you read (refused if it moved on); default: the current."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the patient record as JSON.")]


def _context() -> tuple[Any, Any]:
    """The database and the acting system user (imports kept out of the CLI's start-up)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.permissions import SYSTEM

    return open_database(), SYSTEM


def _current(db: Any, actor: Any, patient_id: int) -> Any:
    from ketaclinic.services.patients.registry import view_patient

    return view_patient(db, actor, patient_id)


def _summary(patient: Any) -> list[str]:
    """The registry part of a record in a few lines."""
    allergy_lines = [
        f"  allergy {a.id}: {a.substance} · {a.reaction} · {a.severity}"
        + (f" (struck out: {a.strike_reason})" if a.struck_out_at else "")
        for a in patient.allergies
    ]
    c, r = patient.contact, patient.referrer
    agreed = {None: "not asked", True: f"yes ({c.consent_on})", False: f"no ({c.consent_on})"}
    return [
        f"patient {patient.id} {patient.family_name}, {patient.given_name} (version {patient.version})",
        f"  allergies: {patient.allergy_status.replace('_', ' ')}",
        *allergy_lines,
        f"  contact: e-mail {c.email or '-'}, phone {c.phone or '-'}, prefers {c.preferred_channel or '-'},"
        f" agrees to be contacted: {agreed[c.consent_to_contact]}",
        "  referrer: "
        + (f"{r.name} ({r.identifier or 'no identifier'}), {r.email or r.address}" if r else "none recorded"),
    ]


def _answer(patient: Any, as_json: bool) -> None:
    if as_json:
        emit_json(patient)
        return
    for line in _summary(patient):
        typer.echo(line)


@patients_app.command("show")
def show(patient_id: PatientId, as_json: AsJson = False) -> None:
    """A patient's allergies, contact details and referring physician (the view is audited)."""
    db, actor = _context()
    _answer(_current(db, actor, patient_id), as_json)


@patients_app.command("allergy-add")
def allergy_add(
    patient_id: PatientId,
    substance: Annotated[str, typer.Option("--substance", help="What the patient is allergic to.")],
    reaction: Annotated[str, typer.Option("--reaction", help="The reaction, e.g. hives.")],
    severity: Annotated[str, typer.Option("--severity", help="mild, moderate, severe or unknown.")],
    code: Annotated[str | None, typer.Option("--code", help="A code for the substance, if any.")] = None,
    record_version: RecordVersion = None,
    as_json: AsJson = False,
) -> None:
    """Record an allergy (clears a "no known allergies" answer)."""
    from ketaclinic.services.patients import allergies

    db, actor = _context()
    version = record_version or _current(db, actor, patient_id).version
    data = allergies.AllergyIn.model_validate(
        {"version": version, "substance": substance, "reaction": reaction, "severity": severity}
        | ({"substance_code": code} if code else {})
    )
    _answer(allergies.add_allergy(db, actor, patient_id, data), as_json)


@patients_app.command("allergy-strike")
def allergy_strike(
    patient_id: PatientId,
    allergy_id: Annotated[int, typer.Argument(help="The allergy entered in error.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is wrong.")],
    record_version: RecordVersion = None,
    as_json: AsJson = False,
) -> None:
    """Strike out an allergy entered in error (kept, with who, when and why)."""
    from ketaclinic.services.patients import allergies

    db, actor = _context()
    version = record_version or _current(db, actor, patient_id).version
    data = allergies.AllergyStrikeOutIn.model_validate({"version": version, "reason": reason})
    _answer(allergies.strike_out_allergy(db, actor, patient_id, allergy_id, data), as_json)


@patients_app.command("no-known-allergies")
def no_known_allergies(
    patient_id: PatientId, record_version: RecordVersion = None, as_json: AsJson = False
) -> None:
    """Record that the patient was asked and has no known allergies."""
    from ketaclinic.services.patients import allergies

    db, actor = _context()
    version = record_version or _current(db, actor, patient_id).version
    data = allergies.NoKnownAllergiesIn(version=version)
    _answer(allergies.record_no_known_allergies(db, actor, patient_id, data), as_json)


def _yes_no(answer: str | None) -> bool | None:
    if answer is None:
        return None
    if answer not in ("yes", "no"):
        raise InputError(f"{answer!r}: answer yes or no", field="consent_to_contact")
    return answer == "yes"


@patients_app.command("contact")
def set_contact(
    patient_id: PatientId,
    email: Annotated[str | None, typer.Option("--email")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Postal address.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="email, sms, phone or post.")] = None,
    consent: Annotated[
        str | None, typer.Option("--consent", help="Agrees to be contacted: yes or no.")
    ] = None,
    consent_on: Annotated[str | None, typer.Option("--consent-on", help="Date of that answer.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the details change.")] = "",
    record_version: RecordVersion = None,
    as_json: AsJson = False,
) -> None:
    """Change the contact details: the options given replace those stored, the others stay."""
    from ketaclinic.services.patients import contact

    db, actor = _context()
    current = _current(db, actor, patient_id)
    given = {
        "email": email,
        "phone": phone,
        "address": address,
        "preferred_channel": channel,
        "consent_to_contact": _yes_no(consent),
        "consent_on": consent_on,
    }
    values = current.contact.model_dump(mode="json") | {k: v for k, v in given.items() if v is not None}
    data = contact.ContactIn.model_validate(
        values | {"version": record_version or current.version, "reason": reason}
    )
    _answer(contact.set_contact(db, actor, patient_id, data), as_json)


@patients_app.command("referrer")
def set_referrer(
    patient_id: PatientId,
    name: Annotated[str, typer.Option("--name", help="The referring physician's name.")],
    identifier: Annotated[
        str | None, typer.Option("--identifier", help="e.g. a national provider number.")
    ] = None,
    address: Annotated[str | None, typer.Option("--address")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it changes.")] = "",
    record_version: RecordVersion = None,
    as_json: AsJson = False,
) -> None:
    """Record or replace the referring physician (an address or an e-mail is required)."""
    from ketaclinic.services.patients import contact

    db, actor = _context()
    version = record_version or _current(db, actor, patient_id).version
    values = {"identifier": identifier, "address": address, "email": email}
    data = contact.ReferrerIn.model_validate(
        {"version": version, "name": name, "reason": reason} | {k: v for k, v in values.items() if v}
    )
    _answer(contact.set_referrer(db, actor, patient_id, data), as_json)


def register(app: typer.Typer) -> None:
    """Add the `patients` command group."""
    app.add_typer(patients_app, name="patients")
