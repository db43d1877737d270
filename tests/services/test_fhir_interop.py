"""FHIR export of the demo clinic (valid, self-contained, audited, de-identified) and import of referrals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ketaclinic.errors import ConflictError, InputError, ManyInputsError, PermissionDeniedError
from ketaclinic.interop import fhir, fhir_base, fhir_medication
from ketaclinic.interop.codes import systems
from ketaclinic.interop.fhir_import import read_referrals
from ketaclinic.services import demo
from ketaclinic.services.interop.fhir_collection import ExportOptions
from ketaclinic.services.interop.fhir_export import (
    collect_clinic,
    patient_everything,
    write_bulk_export,
)
from ketaclinic.services.interop.fhir_import import import_referrals
from ketaclinic.services.ledger import catalogue, doses, receipts
from ketaclinic.services.patients.registry import list_patients
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.events import MedicationIn, chart_medication
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.audit_support import latest_event
from tests.conftest import STAFF_PASSWORD, open_test_database
from tests.interop.test_fhir_mapping import validate
from tests.ledger_support import SUPPLIER, prepare_bag
from tests.services.sessions_support import checked_in_session

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
        "MedicationDispense",
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
    _check_the_ledger_part(grouped, deidentified)


def _check_the_ledger_part(grouped: dict[str, list[dict[str, Any]]], deidentified: bool) -> None:
    """Each bag is a dispense of its lot's Medication, and the segments it fed point at that lot."""
    lots = {r["id"]: r for r in grouped["Medication"] if "batch" in r}
    assert {m["batch"]["lotNumber"] for m in lots.values()} <= {"K24A", "K24B", "E24A"}  # kept de-identified
    for lot in lots.values():
        assert lot["ingredient"][0]["strength"]["numerator"]["code"] == "mg"
        assert lot["form"]["text"] == "solution for injection"
    ketamine_lot = next(m for m in lots.values() if m["code"]["text"] == "ketamine")
    assert {c["system"] for c in ketamine_lot["code"]["coding"]} == {
        "http://fdasis.nlm.nih.gov",
        "http://hl7.org/fhir/sid/ndc",
    }
    by_encounter = {d["context"]["reference"]: d for d in grouped["MedicationDispense"]}
    assert len(by_encounter) == len(grouped["MedicationDispense"])  # one bag per session
    for dispense in grouped["MedicationDispense"]:
        assert dispense["medicationReference"]["reference"].removeprefix("Medication/") in lots
        urls = {e["url"]: e for e in dispense.get("extension", [])}
        if urls:
            assert urls[fhir_medication.EXT_LEDGER_WASTED]["valueQuantity"]["code"] == "mg"
            assert urls[fhir_medication.EXT_LEDGER_STATE]["valueString"] in ("reconciled", "accepted")
        assert ("performer" in dispense) is not deidentified  # staff names stay in the clinic
        assert ("sodium chloride" in dispense["note"][0]["text"]) is not deidentified  # typed text too
        wasted = urls[fhir_medication.EXT_LEDGER_WASTED]["valueQuantity"]["value"] if urls else 0
        assert ("witnessed by" in dispense["note"][0]["text"]) is (not deidentified and wasted > 0)
    for administration in grouped["MedicationAdministration"]:
        if "rateQuantity" not in administration["dosage"]:
            continue
        bag = by_encounter.get(administration["context"]["reference"])
        if bag is not None:
            assert administration["medicationReference"] == bag["medicationReference"]


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
    lot_expiries = {
        (m["batch"]["lotNumber"], m["batch"]["expirationDate"]) for m in identified if "batch" in m
    }
    research_lots = [m for m in research if "batch" in m]
    assert research_lots and all(
        (m["batch"]["lotNumber"], m["batch"]["expirationDate"]) not in lot_expiries for m in research_lots
    )  # the lot number kept, its expiry shifted with the patient's other dates
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


def test_a_dispensed_midazolam_dose_points_at_its_lot(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid = checked_in_session(db, staff)
    prepare_bag(db, staff, sid)
    admin, nurse = staff["admin"], staff["nurse"]
    midazolam = catalogue.add_product(
        db,
        admin,
        catalogue.ProductIn(drug="midazolam", strength_mg_ml=1, container_ml=5, ndc="0641-6057-10"),
        config=None,
    )
    received = receipts.receive(
        db,
        admin,
        receipts.ReceiptIn(
            product_id=midazolam.id,
            location_id=catalogue.list_locations(db, admin)[0].id,
            lot="M/7 B",  # a lot number an id cannot hold as it is
            expiry=date(2027, 3, 31),
            containers=2,
            **SUPPLIER,
        ),
        config=None,
    )
    sessions.start(db, nurse, sid, RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(minutes=30)), config=None)
    dose = chart_medication(
        db, nurse, sid, MedicationIn(purpose="rescue", medication="midazolam", dose=2), config=None
    )
    doses.dispense_dose(
        db,
        nurse,
        sid,
        doses.DoseDispenseIn(
            medication_id=dose.id,
            container_id=received.container_ids[0],
            volume_drawn_ml=2.5,
            witness="physician",
            witness_password=STAFF_PASSWORD,
        ),
        config=None,
    )
    for deidentified in (False, True):
        grouped, _m = collect_clinic(db, SYSTEM, SECRET, ExportOptions(deidentified=deidentified))
        resources = _everything(grouped)
        for resource in resources:
            validate(resource)
        assert fhir_base.unresolved_references(resources) == []
        given = next(r for r in grouped["MedicationAdministration"] if r["id"] == f"dose-{dose.id}")
        lot_id = given["medicationReference"]["reference"].removeprefix("Medication/")
        lot = next(m for m in grouped["Medication"] if m["id"] == lot_id)
        assert lot["code"] == {
            "text": "midazolam",
            "coding": [{"system": systems().ndc, "code": "0641-6057-10"}],
        }
        assert lot["batch"]["lotNumber"] == "M/7 B"
        assert (lot["batch"]["expirationDate"] == "2027-03-31") is not deidentified
        dispense = next(
            d
            for d in grouped["MedicationDispense"]
            if d["medicationReference"] == given["medicationReference"]
        )
        assert "authorizingPrescription" not in dispense  # the ketamine plan does not prescribe midazolam
        wasted = {e["url"]: e for e in dispense["extension"]}[fhir_medication.EXT_LEDGER_WASTED]
        assert wasted["valueQuantity"]["value"] == 0.5
        bag = next(d for d in grouped["MedicationDispense"] if d["id"] != dispense["id"])
        assert bag["authorizingPrescription"][0]["reference"].startswith("MedicationRequest/plan-")
        assert "extension" not in bag  # not yet reconciled: the infusion runs
        rates = [r for r in grouped["MedicationAdministration"] if "rateQuantity" in r["dosage"]]
        assert rates and all(r["medicationReference"] == bag["medicationReference"] for r in rates)
