"""`export redcap`: the clinic's patients, courses, sessions and PROs as a REDCap project's two files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.data import load_toml
from ketaclinic.dosing.bounds import MAX_HEIGHT_CM, MAX_WEIGHT_KG, MIN_HEIGHT_CM, MIN_WEIGHT_KG
from ketaclinic.errors import ConflictError
from ketaclinic.interop.deidentify import OLDEST_SHOWN_AGE, Dates, age_on, shift_days
from ketaclinic.interop.redcap import Field, choice_code, dictionary_csv, records_csv
from ketaclinic.monitoring.lifecycle import SessionState
from ketaclinic.outcomes.definitions import DISCONTINUATION_REASONS
from ketaclinic.screening.diagnoses import PainMechanism, list_diagnoses
from ketaclinic.services.audit import audit
from ketaclinic.services.interop.fhir_collection import ExportOptions
from ketaclinic.services.interop.fhir_export import check_export_permission
from ketaclinic.services.outcomes.pros import Timepoint
from ketaclinic.services.patients.records import latest_measure
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.charting import given_mg
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.sessions import InfusionSession, SessionAdverseEvent

SEXES = ("female", "male", "other", "unknown")


def _choices(values: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((choice_code(v), v.replace("_", " ")) for v in values)


def _pgic_choices() -> tuple[tuple[str, str], ...]:
    pgic = load_toml("instruments.toml")["pgic"]
    return tuple((str(pgic["min"] + i), str(level)) for i, level in enumerate(pgic["levels"]))


def dictionary_fields(*, identified: bool) -> list[Field]:
    """The project's fields: patient (one per record), then the repeating course, session and PRO forms."""
    diagnoses = tuple((choice_code(d.code), f"{d.code} {d.label}") for d in list_diagnoses())
    identity = [
        Field("mrn", "patient", "text", "Medical record number", identifier=True),
        Field("family_name", "patient", "text", "Family name", identifier=True),
        Field("given_name", "patient", "text", "Given name", identifier=True),
        Field("birth_date", "patient", "text", "Birth date", validation="date_ymd", identifier=True),
    ]
    date_note = "" if identified else "shifted by a per-patient offset (date order and intervals kept)"
    return [
        Field("record_id", "patient", "text", "Record ID (the clinic's pseudonym)", required=True),
        *(identity if identified else []),
        Field(
            "age_years",
            "patient",
            "text",
            "Age at export (years)",
            validation="integer",
            minimum="0",
            maximum="130",
            note="" if identified else f"ages over {OLDEST_SHOWN_AGE} are given as {OLDEST_SHOWN_AGE + 1}",
        ),
        Field("sex", "patient", "radio", "Sex", choices=_choices(SEXES)),
        Field("diagnosis_primary", "patient", "dropdown", "Primary diagnosis (ICD-10-CM)", choices=diagnoses),
        Field(
            "pain_mechanism",
            "patient",
            "radio",
            "Pain mechanism (IASP)",
            choices=_choices([m.value for m in PainMechanism]),
        ),
        Field(
            "pain_duration_months",
            "patient",
            "text",
            "Pain duration (months)",
            validation="integer",
            minimum="0",
        ),
        Field(
            "weight_kg",
            "patient",
            "text",
            "Latest weight (kg)",
            validation="number",
            minimum=f"{MIN_WEIGHT_KG:g}",
            maximum=f"{MAX_WEIGHT_KG:g}",
        ),
        Field(
            "height_cm",
            "patient",
            "text",
            "Latest height (cm)",
            validation="number",
            minimum=f"{MIN_HEIGHT_CM:g}",
            maximum=f"{MAX_HEIGHT_CM:g}",
        ),
        Field(
            "course_start",
            "course",
            "text",
            "Course start",
            validation="date_ymd",
            identifier=True,
            note=date_note,
        ),
        Field(
            "course_series_end",
            "course",
            "text",
            "Series end",
            validation="date_ymd",
            identifier=True,
            note=date_note,
        ),
        Field(
            "course_sessions_planned", "course", "text", "Sessions planned", validation="integer", minimum="0"
        ),
        Field(
            "course_discontinued",
            "course",
            "dropdown",
            "Discontinued",
            choices=_choices(DISCONTINUATION_REASONS),
        ),
        Field("session_number", "session", "text", "Session number", validation="integer", minimum="1"),
        Field(
            "session_date",
            "session",
            "text",
            "Session date",
            validation="date_ymd",
            identifier=True,
            note=date_note,
        ),
        Field(
            "session_state",
            "session",
            "dropdown",
            "Session state",
            choices=_choices([s.value for s in SessionState]),
        ),
        Field(
            "session_given_mg",
            "session",
            "text",
            "Ketamine given (mg, rates and boluses)",
            validation="number",
            minimum="0",
        ),
        Field(
            "session_adverse_events",
            "session",
            "text",
            "Adverse events charted",
            validation="integer",
            minimum="0",
        ),
        Field("pro_timepoint", "pro", "dropdown", "Timepoint", choices=_choices(list(get_args(Timepoint)))),
        Field(
            "pro_date",
            "pro",
            "text",
            "Date collected",
            validation="date_ymd",
            identifier=True,
            note=date_note,
        ),
        Field(
            "pro_weeks_after_series",
            "pro",
            "text",
            "Weeks after the series",
            validation="integer",
            minimum="0",
        ),
        Field(
            "pro_nrs",
            "pro",
            "text",
            "Pain NRS (0-10; LOINC 72514-3)",
            validation="number",
            minimum="0",
            maximum="10",
        ),
        Field("pro_pgic", "pro", "dropdown", "PGIC", choices=_pgic_choices()),
        Field(
            "pro_phq9",
            "pro",
            "text",
            "PHQ-9 total (LOINC 44261-6)",
            validation="integer",
            minimum="0",
            maximum="27",
        ),
        Field(
            "pro_gad7",
            "pro",
            "text",
            "GAD-7 total (LOINC 70274-6)",
            validation="integer",
            minimum="0",
            maximum="21",
        ),
    ]


def _day(dates: Dates, value: date | datetime | None) -> str | None:
    if value is None:
        return None
    return dates.day(value.date() if isinstance(value, datetime) else value)


def research_rows(session: Session, patient: Patient, dates: Dates, identified: bool) -> list[dict[str, Any]]:
    """A patient's rows: their own (no repeat instrument), then one per course, session and PRO."""
    record = patient.pseudonym
    age = age_on(patient.birth_date, date.today())
    primary = next((d.code for d in patient.diagnoses if d.primary), None)
    head: dict[str, Any] = {
        "record_id": record,
        "age_years": age if identified else min(age, OLDEST_SHOWN_AGE + 1),
        "sex": choice_code(patient.sex),
        "diagnosis_primary": choice_code(primary) if primary else None,
        "pain_mechanism": patient.pain_mechanism,
        "pain_duration_months": patient.pain_duration_months,
        "weight_kg": latest_measure(patient, "weight_kg"),
        "height_cm": latest_measure(patient, "height_cm"),
    }
    if identified:
        head |= {
            "mrn": patient.mrn,
            "family_name": patient.family_name,
            "given_name": patient.given_name,
            "birth_date": patient.birth_date.isoformat(),
        }
    rows = [head]
    courses = session.execute(
        select(TreatmentCourse).where(TreatmentCourse.patient_id == patient.id).order_by(TreatmentCourse.id)
    ).scalars()
    for instance, course in enumerate(courses, start=1):
        rows.append(
            {
                "record_id": record,
                "redcap_repeat_instrument": "course",
                "redcap_repeat_instance": instance,
                "course_start": _day(dates, course.started_on),
                "course_series_end": _day(dates, course.series_end),
                "course_sessions_planned": course.sessions_planned,
                "course_discontinued": choice_code(course.discontinued),
            }
        )
    sittings = session.execute(
        select(InfusionSession)
        .where(InfusionSession.patient_id == patient.id)
        .order_by(InfusionSession.scheduled_on, InfusionSession.id)
    ).scalars()
    for instance, sitting in enumerate(sittings, start=1):
        events = session.execute(
            select(SessionAdverseEvent.id).where(SessionAdverseEvent.session_id == sitting.id)
        ).all()
        rows.append(
            {
                "record_id": record,
                "redcap_repeat_instrument": "session",
                "redcap_repeat_instance": instance,
                "session_number": sitting.session_number,
                "session_date": _day(dates, sitting.scheduled_on),
                "session_state": choice_code(sitting.state),
                "session_given_mg": round(given_mg(session, sitting, sitting.ended_at or utcnow()), 1),
                "session_adverse_events": len(events),
            }
        )
    pros = session.execute(
        select(ProResponse).where(ProResponse.patient_id == patient.id).order_by(ProResponse.collected_at)
    ).scalars()
    for instance, pro in enumerate(pros, start=1):
        rows.append(
            {
                "record_id": record,
                "redcap_repeat_instrument": "pro",
                "redcap_repeat_instance": instance,
                "pro_timepoint": choice_code(pro.timepoint),
                "pro_date": _day(dates, pro.collected_at),
                "pro_weeks_after_series": pro.weeks_after_series,
                "pro_nrs": pro.pain_nrs,
                "pro_pgic": pro.pgic,
                "pro_phq9": pro.phq9_total,
                "pro_gad7": pro.gad7_total,
            }
        )
    return rows


def clinic_rows(
    session: Session, *, secret: str, identified: bool
) -> tuple[list[Patient], list[dict[str, Any]]]:
    """Every patient and their research rows (dates shifted per patient unless `identified`)."""
    patients = list(
        session.execute(
            select(Patient)
            .order_by(Patient.id)
            .options(selectinload(Patient.diagnoses), selectinload(Patient.measurements))
        ).scalars()
    )
    rows = [
        row
        for p in patients
        for row in research_rows(
            session, p, Dates() if identified else Dates(shift_days(secret, p.pseudonym)), identified
        )
    ]
    return patients, rows


@dataclass(frozen=True, slots=True)
class RedcapExport:
    """The two files written and how many records (patients) and rows they hold."""

    dictionary: Path
    records: Path
    patients: int
    rows: int


def write_redcap_export(
    db: Database, actor: Actor, directory: Path, *, secret: str, identified: bool = False
) -> RedcapExport:
    """Write data_dictionary.csv and records.csv (de-identified unless `identified`), audited."""
    options = ExportOptions(deidentified=not identified)
    check_export_permission(actor, options)
    dictionary_path, records_path = directory / "data_dictionary.csv", directory / "records.csv"
    if dictionary_path.exists() or records_path.exists():
        raise ConflictError(
            f"{directory} already holds a REDCap export: choose a new directory", field="directory"
        )
    fields = dictionary_fields(identified=identified)
    with db.transaction() as session:
        patients, rows = clinic_rows(session, secret=secret, identified=identified)
        audit(
            session,
            actor,
            "export",
            "redcap",
            "clinic",
            {
                "format": {"old": None, "new": "redcap-csv"},
                "deidentified": {"old": None, "new": not identified},
                "patients": {"old": None, "new": len(patients)},
                "rows": {"old": None, "new": len(rows)},
            },
        )
    directory.mkdir(parents=True, exist_ok=True)
    dictionary_path.write_text(dictionary_csv(fields), encoding="utf-8")
    records_path.write_text(records_csv(fields, rows, repeating=True), encoding="utf-8")
    return RedcapExport(dictionary_path, records_path, len(patients), len(rows))
