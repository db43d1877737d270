"""FHIR export of the demo clinic (valid, self-contained, audited, de-identified) and import of referrals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ketaclinic.errors import ConflictError, InputError, ManyInputsError, PermissionDeniedError
from ketaclinic.interop import fhir, fhir_base
from ketaclinic.interop.fhir_import import read_referrals
from ketaclinic.services import demo
from ketaclinic.services.interop.fhir_export import (
    collect_clinic,
    patient_everything,
    write_bulk_export,
)
from ketaclinic.services.interop.fhir_import import import_referrals
from ketaclinic.services.interop.fhir_records import ExportOptions
from ketaclinic.services.patients.registry import list_patients
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.store.db import Database
from tests.audit_support import latest_event
from tests.conftest import open_test_database
from tests.interop.test_fhir_mapping import validate

SECRET = "clinic-secret"


@pytest.fixture
def clinic(db: Database) -> dict[str, Actor]:
    """The demo clinic (six patients) in the parametrised database, and its staff."""
    demo.seed_demo(db, patient_count=6, config=None)
    return demo.clinic.ensure_logins(db)


@pytest.fixture
def demo_source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A second database, SQLite, holding the demo clinic: the sending side of a round trip."""
    folder = tmp_path / "source"
    folder.mkdir()
    with open_test_database(request, "sqlite", folder) as database:
        demo.seed_demo(database, patient_count=6, config=None)
        yield database


def _everything(grouped: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for rs in grouped.values() for r in rs]


@pytest.mark.parametrize("deidentified", [False, True])
def test_every_exported_resource_validates_and_every_reference_resolves(
    db: Database, clinic: dict[str, Actor], deidentified: bool
) -> None:
    grouped, _moment = collect_clinic(db, SYSTEM, SECRET, ExportOptions(deidentified=deidentified))
    resources = _everything(grouped)
    for resource in resources:
        validate(resource)
    assert fhir_base.unresolved_references(resources) == []
    assert len({(r["resourceType"], r["id"]) for r in resources}) == len(resources)
    expected = {
        "Patient",
        "Medication",
        "Condition",
        "MedicationRequest",
        "Encounter",
        "MedicationAdministration",
        "Observation",
        "QuestionnaireResponse",
        "AdverseEvent",
        "Consent",
    }
    assert set(grouped) == expected
    codes = {c["code"] for r in grouped["Observation"] for c in r["code"]["coding"]}
    assert {"72514-3", "8480-6", "8867-4"} <= codes  # pain NRS and vitals by LOINC
    rates = [r for r in grouped["MedicationAdministration"] if "rateQuantity" in r["dosage"]]
    assert rates and all(r["dosage"]["rateQuantity"]["code"] == "mg/h" for r in rates)
    statuses = {r["status"] for r in grouped["Encounter"]}
    assert "finished" in statuses and statuses <= {"planned", "arrived", "in-progress", "finished"}
    (event, *_rest) = grouped["AdverseEvent"]
    assert event["extension"][0]["url"] == fhir.EXT_PREDICTED_CP


def test_the_deidentified_export_holds_no_identifier_and_shifts_every_date(
    db: Database, clinic: dict[str, Actor]
) -> None:
    identified = _everything(collect_clinic(db, SYSTEM, SECRET, ExportOptions())[0])
    research = _everything(collect_clinic(db, SYSTEM, SECRET, ExportOptions(deidentified=True))[0])
    patients, _total = list_patients(db, SYSTEM)
    text = json.dumps(research)
    for patient in patients:
        assert getattr(patient, "family_name") not in text  # noqa: B009 (identified model)
        assert f'"{getattr(patient, "mrn")}"' not in text  # noqa: B009
        assert getattr(patient, "birth_date").isoformat() not in text  # noqa: B009
    assert '"name"' not in text and '"telecom"' not in text
    by_id = {(r["resourceType"], r["id"]): r for r in identified}
    for resource in research:
        if resource["resourceType"] == "Encounter" and "period" in resource:
            original = by_id[("Encounter", resource["id"])]["period"]["start"]
            assert resource["period"]["start"] != original
            assert resource["period"]["start"][11:] == original[11:]  # whole days: the time of day stays


def test_since_keeps_only_what_happened_from_that_day(db: Database, clinic: dict[str, Actor]) -> None:
    everything, _m = collect_clinic(db, SYSTEM, SECRET, ExportOptions())
    later, _m = collect_clinic(db, SYSTEM, SECRET, ExportOptions(since=date.today()))
    assert len(later.get("Encounter", [])) < len(everything["Encounter"])
    assert fhir_base.unresolved_references(_everything(later)) == []


def test_exports_are_audited_and_held_to_the_roles(db: Database, clinic: dict[str, Actor]) -> None:
    collect_clinic(db, clinic["researcher"], SECRET, ExportOptions(deidentified=True))
    event = latest_event(db, "fhir")
    assert (event.action, event.actor) == ("export", "researcher")
    assert json.loads(event.changes_json)["deidentified"]["new"] is True
    with pytest.raises(PermissionDeniedError):
        collect_clinic(db, clinic["researcher"], SECRET, ExportOptions())
    with pytest.raises(PermissionDeniedError):
        collect_clinic(db, clinic["nurse"], SECRET, ExportOptions())
    with pytest.raises(PermissionDeniedError):
        collect_clinic(db, clinic["admin"], SECRET, ExportOptions(deidentified=True))


def test_everything_for_one_patient_is_a_valid_bundle(db: Database, clinic: dict[str, Actor]) -> None:
    patients, _total = list_patients(db, SYSTEM)
    patient_id = getattr(patients[0], "id")  # noqa: B009
    bundle = patient_everything(db, clinic["nurse"], patient_id, secret=SECRET)
    validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert fhir_base.unresolved_references(resources) == []
    assert sum(r["resourceType"] == "Patient" for r in resources) == 1
    assert latest_event(db, "patient").action == "export"
    with pytest.raises(PermissionDeniedError):
        patient_everything(db, clinic["researcher"], patient_id, secret=SECRET)


def test_the_bulk_layout_has_one_file_per_type_and_a_manifest(
    db: Database, clinic: dict[str, Actor], tmp_path: Path
) -> None:
    written = write_bulk_export(db, SYSTEM, tmp_path / "out", secret=SECRET, options=ExportOptions())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [o["type"] for o in manifest["output"]] == list(written.counts)
    for output in manifest["output"]:
        lines = (tmp_path / "out" / output["url"]).read_text().splitlines()
        assert len(lines) == output["count"]
        assert {json.loads(line)["resourceType"] for line in lines} == {output["type"]}
    with pytest.raises(ConflictError):  # never over an earlier export
        write_bulk_export(db, SYSTEM, tmp_path / "out", secret=SECRET, options=ExportOptions())


def _referral_file(grouped: dict[str, list[dict[str, Any]]]) -> str:
    wanted = grouped["Patient"] + grouped["Condition"] + grouped["Observation"]
    return "\n".join(json.dumps(r) for r in wanted)


def test_round_trip_the_demo_patients_and_their_codes_into_an_empty_database(
    demo_source: Database, db: Database
) -> None:
    grouped, _m = collect_clinic(demo_source, SYSTEM, SECRET, ExportOptions())
    result = import_referrals(
        db, SYSTEM, read_referrals(_referral_file(grouped)), source="demo.ndjson", config=None
    )

    def summary(database: Database) -> set[tuple[Any, ...]]:
        patients, _total = list_patients(database, SYSTEM)
        return {
            (p.mrn, p.family_name, p.given_name, p.birth_date, p.sex, tuple(d.code for d in p.diagnoses))  # type: ignore[union-attr]
            for p in patients
        }

    assert summary(db) == summary(demo_source)
    assert len(result.patients) == 6
    assert latest_event(db, "fhir").action == "import"


def test_importing_the_same_patients_again_changes_nothing(demo_source: Database, db: Database) -> None:
    grouped, _m = collect_clinic(demo_source, SYSTEM, SECRET, ExportOptions())
    read = read_referrals(_referral_file(grouped))
    import_referrals(db, SYSTEM, read, source="first", config=None)
    before = list_patients(db, SYSTEM)[1]
    with pytest.raises(ConflictError, match="already registered"):
        import_referrals(db, SYSTEM, read, source="again", config=None)
    assert list_patients(db, SYSTEM)[1] == before


def test_a_file_with_one_bad_entry_registers_nobody(db: Database, staff: dict[str, Actor]) -> None:
    good = {
        "resourceType": "Patient",
        "id": "a",
        "identifier": [{"value": "R-1"}],
        "name": [{"family": "Roe", "given": ["Sam"]}],
        "gender": "female",
        "birthDate": "1970-02-03",
    }
    future = dict(good, id="b", identifier=[{"value": "R-2"}], birthDate="2999-01-01")
    read = read_referrals("\n".join(json.dumps(r) for r in (good, future)))
    with pytest.raises(InputError) as raised:
        import_referrals(db, staff["nurse"], read, source="file", config=None)
    assert raised.value.field == "line 2.birth_date"
    twice = read_referrals("\n".join(json.dumps(r) for r in (good, future, dict(good, id="c"))))
    with pytest.raises(ManyInputsError) as many:
        import_referrals(db, staff["nurse"], twice, source="file", config=None)
    assert [p.field for p in many.value.problems] == ["line 2.birth_date", "line 3.identifier"]
    assert list_patients(db, SYSTEM)[1] == 0
