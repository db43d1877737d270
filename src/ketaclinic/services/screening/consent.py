"""Consents per patient and protocol: template snapshot, risks discussed, who signed and how, withdrawal."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, ManyInputsError, NotFoundError
from ketaclinic.inputs import CleanText, SingleLine
from ketaclinic.screening import ConsentTemplate, current_consent_template
from ketaclinic.screening.consent import REPRESENTATIVE_RELATIONS, signature_matches
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.eligibility import CONSENT_SIGNED, CONSENT_WITHDRAWN
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.settings import Settings
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import is_future, utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.screening import Consent

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), CleanText]


class RiskDiscussed(BaseModel):
    """One risk of the template: ticked as discussed, or not, with the reason why not."""

    model_config = ConfigDict(extra="forbid")
    code: str
    discussed: bool
    reason: Reason = ""


class ConsentIn(BaseModel):
    """What recording a consent takes; the physician's signature is the acting user and now."""

    model_config = ConfigDict(extra="forbid")
    protocol_id: str
    template_version: str | None = Field(default=None, description="the version shown; must be the current")
    risks: list[RiskDiscussed]
    alternatives: list[str] = Field(min_length=1, description="codes of the alternatives discussed")
    patient_signature: Text200 = Field(
        description="the signer's typed full name: the patient's, or the legal representative's"
    )
    signed_by: Literal["patient", "representative"] = "patient"
    representative_relation: str | None = Field(
        default=None, description="with signed_by=representative: " + ", ".join(REPRESENTATIVE_RELATIONS)
    )
    representative_relation_detail: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=100), SingleLine
    ] = Field(default="", description="the relation in words, with representative_relation=other")
    patient_signed_at: AwareDatetime | None = None
    witness: Text200


class WithdrawIn(BaseModel):
    """Why the patient withdrew consent."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), CleanText]


class ConsentOut(BaseModel):
    """A stored consent."""

    id: int
    patient_id: int
    protocol_id: str
    protocol_name: str
    status: str
    template_version: str
    template: dict[str, Any]
    risks: list[dict[str, Any]]
    alternatives: list[str]
    patient_signature: str
    signed_by: str
    representative_relation: str | None
    representative_relation_detail: str | None
    signed_as: str
    patient_signed_at: datetime
    witness: str
    physician: str
    physician_signed_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawal_reason: str | None


def protocol_choices(config: Settings | Path | None) -> dict[str, str]:
    """Protocol id -> name (shipped and the clinic's, as plans see them), for the consent form."""
    return {pid: p.name for pid, p in clinic_library(config).protocols.items()}


def _check_protocol(protocol_id: str, config: Settings | Path | None) -> str:
    # the same protocols a plan is made of, so that every plannable protocol can be consented to
    protocols = clinic_library(config).protocols
    if protocol_id not in protocols:
        raise InputError(
            f"unknown protocol {protocol_id!r} (known: {', '.join(sorted(protocols))})", field="protocol_id"
        )
    return protocol_id


def _check_risks(
    template: ConsentTemplate, given: list[RiskDiscussed], problems: list[InputError]
) -> list[dict[str, Any]]:
    """Every template risk exactly once: discussed, or not discussed with a reason; problems appended."""
    labels = {r.code: r.label for r in template.risks}
    by_code: dict[str, RiskDiscussed] = {}
    for index, risk in enumerate(given):
        if risk.code not in labels:
            problems.append(
                InputError(
                    f"unknown risk {risk.code!r} for consent {template.version}", field=f"risks[{index}]"
                )
            )
        elif risk.code in by_code:
            problems.append(InputError(f"risk {risk.code!r} given twice", field=f"risks[{index}]"))
        else:
            by_code[risk.code] = risk
    out = []
    for code, label in labels.items():
        found = by_code.get(code)
        if found is None:
            problems.append(
                InputError(f"{label} is neither marked discussed nor given a reason", field=f"risks.{code}")
            )
        elif not found.discussed and not found.reason:
            problems.append(
                InputError(f"{label} is not marked discussed: give the reason", field=f"risks.{code}")
            )
        else:
            out.append({"code": code, "label": label, "discussed": found.discussed, "reason": found.reason})
    return out


def _check_alternatives(template: ConsentTemplate, codes: list[str], problems: list[InputError]) -> list[str]:
    known = [a.code for a in template.alternatives]
    for index, code in enumerate(codes):
        if code not in known:
            problems.append(InputError(f"unknown alternative {code!r}", field=f"alternatives[{index}]"))
    return [code for code in known if code in codes]


def _check_signer(patient: Patient, data: ConsentIn, problems: list[InputError]) -> None:
    """The patient signs in their own name; anyone else is a legal representative with a stated relation."""
    if data.signed_by == "patient":
        if not signature_matches(data.patient_signature, patient.given_name, patient.family_name):
            problems.append(
                InputError(
                    f"the signature {data.patient_signature!r} is not the patient's name "
                    f"({patient.given_name} {patient.family_name}): the patient types their own full "
                    "name, or a legal representative signs with their relation to the patient",
                    field="patient_signature",
                )
            )
        if data.representative_relation:
            problems.append(
                InputError(
                    "a relation is given but the patient signs: choose a legal representative",
                    field="representative_relation",
                )
            )
        return
    if data.representative_relation not in REPRESENTATIVE_RELATIONS:
        problems.append(
            InputError(
                "choose the legal representative's relation to the patient "
                f"({', '.join(REPRESENTATIVE_RELATIONS.values()).lower()})",
                field="representative_relation",
            )
        )
    elif data.representative_relation == "other" and not data.representative_relation_detail:
        problems.append(
            InputError(
                "describe the representative's relation to the patient",
                field="representative_relation_detail",
            )
        )


def signed_as(signed_by: str, relation: str | None, detail: str | None) -> str:
    """In what capacity a consent was signed, in words: "patient" or the representative's relation."""
    if signed_by == "patient":
        return "the patient"
    words = detail if relation == "other" and detail else REPRESENTATIVE_RELATIONS.get(relation or "", "")
    return f"legal representative ({words.lower() or 'relation not recorded'})"


def _out(consent: Consent, config: Settings | Path | None) -> ConsentOut:
    protocol = clinic_library(config).protocols.get(consent.protocol_id)
    return ConsentOut(
        id=consent.id,
        patient_id=consent.patient_id,
        protocol_id=consent.protocol_id,
        protocol_name=protocol.name if protocol else consent.protocol_id,
        status=consent.status,
        template_version=consent.template_version,
        template=json.loads(consent.template_json),
        risks=json.loads(consent.risks_json),
        alternatives=json.loads(consent.alternatives_json),
        patient_signature=consent.patient_signature,
        signed_by=consent.signed_by,
        representative_relation=consent.representative_relation,
        representative_relation_detail=consent.representative_relation_detail,
        signed_as=signed_as(
            consent.signed_by, consent.representative_relation, consent.representative_relation_detail
        ),
        patient_signed_at=consent.patient_signed_at,
        witness=consent.witness,
        physician=consent.physician,
        physician_signed_at=consent.physician_signed_at,
        withdrawn_at=consent.withdrawn_at,
        withdrawn_by=consent.withdrawn_by,
        withdrawal_reason=consent.withdrawal_reason,
    )


def audited_fields(consent: Consent) -> dict[str, Any]:
    """The audited fields of a consent (what its signing event records)."""
    return {
        "protocol_id": consent.protocol_id,
        "status": consent.status,
        "template_version": consent.template_version,
        "risks": json.loads(consent.risks_json),
        "alternatives": json.loads(consent.alternatives_json),
        "signature": consent.patient_signature,
        "signed_by": consent.signed_by,
        "representative_relation": consent.representative_relation,
        "representative_relation_detail": consent.representative_relation_detail,
        "patient_signed_at": consent.patient_signed_at.isoformat(),
        "witness": consent.witness,
        "physician": consent.physician,
    }


def record_consent(
    db: Database, actor: Actor, patient_id: int, data: ConsentIn, *, config: Settings | Path | None
) -> ConsentOut:
    """Store a consent to a protocol (shipped or the clinic's), signed by the patient and physician, now."""
    require(actor, Permission.CONSENT_RECORD)
    template = current_consent_template()
    if data.template_version is not None and data.template_version != template.version:
        raise ConflictError(
            f"consent template {data.template_version} was shown but the current one is {template.version}",
            field="template_version",
        )
    problems: list[InputError] = []
    protocol_id = data.protocol_id
    try:
        protocol_id = _check_protocol(data.protocol_id, config)
    except InputError as exc:
        problems.append(exc)
    risks = _check_risks(template, data.risks, problems)
    alternatives = _check_alternatives(template, data.alternatives, problems)
    now = utcnow()
    patient_signed_at = data.patient_signed_at or now
    if is_future(patient_signed_at):
        problems.append(InputError("the signature time is in the future", field="patient_signed_at"))
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        _check_signer(patient, data, problems)
        ManyInputsError.raise_any(problems)
        representative = data.signed_by == "representative"
        consent = Consent(
            patient_id=patient.id,
            protocol_id=protocol_id,
            status=CONSENT_SIGNED,
            template_version=template.version,
            template_json=canonical_json(template.model_dump(mode="json")),
            risks_json=canonical_json(risks),
            alternatives_json=canonical_json(alternatives),
            patient_signature=data.patient_signature,
            signed_by=data.signed_by,
            representative_relation=data.representative_relation if representative else None,
            representative_relation_detail=(
                data.representative_relation_detail or None
                if representative and data.representative_relation == "other"
                else None
            ),
            patient_signed_at=patient_signed_at,
            witness=data.witness,
            physician=actor.username,
            physician_signed_at=now,
        )
        session.add(consent)
        session.flush()
        audit(session, actor, "sign", "consent", consent.id, field_changes(None, audited_fields(consent)))
        return _out(consent, config)


def _load(session: Session, consent_id: int) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFoundError(f"no consent {consent_id}")
    return consent


def withdraw_consent(
    db: Database, actor: Actor, consent_id: int, data: WithdrawIn, *, config: Settings | Path | None
) -> ConsentOut:
    """Record that the patient withdrew this consent (audited with the reason)."""
    require(actor, Permission.CONSENT_RECORD)
    with db.transaction() as session:
        consent = _load(session, consent_id)
        if consent.status == CONSENT_WITHDRAWN:
            raise ConflictError(f"consent {consent_id} was already withdrawn")
        consent.status = CONSENT_WITHDRAWN
        consent.withdrawn_at = utcnow()
        consent.withdrawn_by = actor.username
        consent.withdrawal_reason = data.reason
        audit(
            session,
            actor,
            "withdraw",
            "consent",
            consent.id,
            {"status": {"old": CONSENT_SIGNED, "new": CONSENT_WITHDRAWN}},
            data.reason,
        )
        return _out(consent, config)


def list_consents(
    db: Database, actor: Actor, patient_id: int, *, config: Settings | Path | None
) -> list[ConsentOut]:
    """A patient's consents, newest first (audited as a view of the patient's record)."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        rows = session.execute(
            select(Consent)
            .where(Consent.patient_id == patient.id)
            .order_by(Consent.physician_signed_at.desc(), Consent.id.desc())
        ).scalars()
        out = [_out(c, config) for c in rows]
        audit(session, actor, "view", "patient", patient.id, reason="consents")
        return out
