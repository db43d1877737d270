"""FHIR R4 mappings: each builder's resource validates with the R4B models; de-identification helpers."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ketaclinic.errors import InputError, ManyInputsError
from ketaclinic.interop import fhir, fhir_base, fhir_medication
from ketaclinic.interop.codes import ketamine_codings, observation_coding, systems
from ketaclinic.interop.deidentify import Dates, safe_harbor_birth, shift_days
from ketaclinic.interop.fhir_import import read_referrals


def validate(resource: dict[str, Any]) -> None:
    """Raise unless the resource validates with fhir.resources' R4B model of its type."""
    resource_type = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    getattr(module, resource_type).model_validate(resource)


def _examples() -> list[dict[str, Any]]:
    return [
        fhir.patient(
            "P1",
            identifiers=[("urn:x", "1")],
            sex="female",
            birth_date="1970-02-03",
            family_name="Roe",
            given_name="Sam",
            email="s@example.org",
            phone="+1",
            address="1 Road",
        ),
        fhir.patient(
            "P2", identifiers=[(systems().pseudonym, "P2")], sex="male", birth_date=None, age_group="90+"
        ),
        fhir.condition(
            "c1",
            patient_id="P1",
            icd10cm="G50.0",
            label="Trigeminal neuralgia",
            snomed="31681005",
            primary=True,
            recorded_date="2026-01-01",
        ),
        fhir_medication.medication(),
        fhir.encounter(
            "e1",
            patient_id="P1",
            state="signed",
            session_number=1,
            start="2026-01-01T09:00:00+00:00",
            end="2026-01-01T12:00:00+00:00",
        ),
        fhir_medication.medication_request(
            "r1",
            patient_id="P1",
            status="approved",
            authored_on="2026-01-01T08:00:00+00:00",
            protocol_id="valle2024",
            session_count=6,
            series_total_mg=825.0,
            concentration_mg_ml=1.0,
            dosing_weight_kg=70.0,
            requester="drsmith",
        ),
        fhir_medication.rate_administration(
            "a1",
            patient_id="P1",
            encounter_id="e1",
            request_id="r1",
            start="2026-01-01T09:00:00+00:00",
            end=None,
            rate_mg_h=25.0,
            pump_ml_h=25.0,
            concentration_mg_ml=1.0,
            in_progress=True,
        ),
        fhir_medication.dose_administration(
            "d1",
            patient_id="P1",
            encounter_id="e1",
            request_id="r1",
            given_at="2026-01-01T09:00:00+00:00",
            medication_name="ketamine",
            dose=10.0,
            unit="mg",
            route="IV",
            purpose="ketamine_bolus",
        ),
        fhir_medication.dose_administration(
            "d2",
            patient_id="P1",
            encounter_id="e1",
            request_id=None,
            given_at="2026-01-01T08:40:00+00:00",
            medication_name="ondansetron",
            dose=4.0,
            unit="mg",
            route="PO",
            purpose="premedication",
        ),
        fhir_medication.lot_medication(
            "lot-1-K24A",
            fhir_medication.Lot(
                product_id=1,
                drug="ketamine",
                form="injection_solution",
                strength_mg_ml=50.0,
                container_ml=10.0,
                ndc="0409-2051-05",
                lot="K24A",
                expiry="2027-06-30",
            ),
        ),
        fhir_medication.preparation_dispense(
            "p1",
            patient_id="P1",
            encounter_id="e1",
            medication_id="lot-1-K24A",
            request_id="r1",
            purpose="infusion",
            prepared_mg=250.0,
            drawn_ml=5.0,
            final_volume_ml=250.0,
            concentration_mg_ml=1.0,
            diluent="sodium chloride 0.9%",
            route="intravenous",
            prepared_at="2026-01-01T08:50:00+00:00",
            reconciled=fhir_medication.Reconciled(
                administered_mg=137.5, wasted_mg=112.5, discrepancy_mg=0.0, state="reconciled"
            ),
            prepared_by="nurse",
            checked_by="drsmith",
            waste_note="waste: into a drug disposal container, witnessed by drsmith",
        ),
        fhir.observation(
            "o1",
            patient_id="P1",
            encounter_id="e1",
            key="sbp",
            value=133.0,
            unit="mm[Hg]",
            effective="2026-01-01T09:15:00+00:00",
            interpretation="high",
        ),
        fhir.observation(
            "o2",
            patient_id="P1",
            encounter_id="e1",
            key="rass",
            value=-1,
            unit="{score}",
            effective="2026-01-01T09:15:00+00:00",
        ),
        fhir.observation(
            "o3",
            patient_id="P1",
            encounter_id="e1",
            key="hallucinations",
            value=False,
            unit="",
            effective="2026-01-01T09:15:00+00:00",
        ),
        fhir.body_observation("w1", patient_id="P1", kind="weight", value=70.0, effective="2026-01-01"),
        fhir.questionnaire_response(
            "q1",
            patient_id="P1",
            authored="2026-01-08T10:00:00+00:00",
            timepoint="after_series",
            answers={
                "nrs": {"average": 3.0, "loinc": "72514-3"},
                "phq9": {"items": [1, 0, 2], "total": 3},
                "pgic": {"level": 2},
            },
        ),
        fhir.adverse_event(
            "ae1",
            patient_id="P1",
            encounter_id="e1",
            kind="hypertension",
            severity="mild",
            onset="2026-01-01T10:00:00+00:00",
            recorded="2026-01-01T10:05:00+00:00",
            cp_at_onset_ng_ml=226.23,
            action="rate reduced",
            outcome="resolved",
        ),
        fhir.consent(
            "k1",
            patient_id="P1",
            status="signed",
            signed_at="2025-12-20T10:00:00+00:00",
            protocol_id="valle2024",
            template_version="1",
        ),
    ]


@pytest.mark.parametrize("resource", _examples(), ids=lambda r: f"{r['resourceType']}/{r['id']}")
def test_every_builder_makes_a_valid_r4_resource(resource: dict[str, Any]) -> None:
    validate(resource)


def test_a_bundle_of_the_examples_validates_and_its_references_resolve() -> None:
    resources = _examples()
    assert fhir_base.unresolved_references(resources) == []
    bundle = fhir_base.bundle(resources)
    validate(bundle)
    assert bundle["total"] == len(resources)


def test_a_dangling_reference_is_found() -> None:
    lone = fhir.condition(
        "c1", patient_id="nobody", icd10cm="G50.0", label="TN", snomed=None, primary=True, recorded_date=None
    )
    assert fhir_base.unresolved_references([lone]) == ["Patient/nobody"]


def test_the_rate_is_ucum_mg_per_h_with_the_pump_concentration() -> None:
    administration = _examples()[6]
    dosage = administration["dosage"]
    assert dosage["rateQuantity"] == {
        "value": 25.0,
        "unit": "mg/h",
        "system": "http://unitsofmeasure.org",
        "code": "mg/h",
    }
    by_url = {e["url"]: e["valueQuantity"] for e in dosage["extension"]}
    assert by_url[fhir_medication.EXT_PUMP_CONCENTRATION]["code"] == "mg/mL"
    assert by_url[fhir_medication.EXT_PUMP_RATE]["code"] == "mL/h"


def test_a_lot_is_a_medication_with_its_batch_and_a_bag_a_dispense_of_it() -> None:
    examples = {r["id"]: r for r in _examples()}
    lot = examples["lot-1-K24A"]
    assert lot["batch"] == {"lotNumber": "K24A", "expirationDate": "2027-06-30"}
    assert {"system": systems().ndc, "code": "0409-2051-05"} in lot["code"]["coding"]
    assert lot["ingredient"][0]["strength"]["numerator"]["value"] == 50.0
    dispense = examples["p1"]
    assert dispense["medicationReference"] == {"reference": "Medication/lot-1-K24A"}
    assert [p["function"]["coding"][0]["code"] for p in dispense["performer"]] == ["packager", "checker"]
    wasted = {e["url"]: e for e in dispense["extension"]}[fhir_medication.EXT_LEDGER_WASTED]
    assert wasted["valueQuantity"] == {
        "value": 112.5,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }


def test_a_lot_an_id_cannot_hold_gets_a_stable_digest() -> None:
    assert fhir_medication.lot_medication_id(3, "K24A", "P1A2B3C4D") == "lot-3-K24A-P1A2B3C4D"
    odd = fhir_medication.lot_medication_id(3, "M/7 B")
    assert (
        odd == fhir_medication.lot_medication_id(3, "M/7 B") != fhir_medication.lot_medication_id(3, "M/7 C")
    )
    assert odd.startswith("lot-3-x") and len(odd) <= 64
    assert len(fhir_medication.lot_medication_id(2**62, "L" * 40, "P1A2B3C4D")) <= 64
    # An 11-digit billing NDC is not HL7's NDC form: the lot goes without it rather than miscoded.
    eleven = fhir_medication.Lot(
        1, "midazolam", "injection_solution", 1.0, 5.0, "00641-6057-10", "M1", "2027-01-01"
    )
    assert "coding" not in fhir_medication.lot_medication("m", eleven)["code"]


def test_codes_come_from_the_data_files() -> None:
    assert observation_coding("nrs") == [
        {"system": "http://loinc.org", "code": "72514-3", "display": "Pain numeric rating scale"}
    ]
    assert observation_coding("rass")[0]["system"] == systems().observation_kind
    # The RxNorm ingredient code is not verified: it never leaves the clinic; the verified UNII does.
    assert [c["system"] for c in ketamine_codings()] == [systems().unii]
    assert ketamine_codings()[0]["code"] == "O18YUO0I83"


def test_the_date_shift_is_secret_stable_and_never_zero() -> None:
    offsets = {shift_days("clinic-secret", f"P{i:07d}") for i in range(200)}
    assert min(offsets) >= 1 and max(offsets) <= 364
    assert len(offsets) > 100  # spread, not one offset for everyone
    assert shift_days("clinic-secret", "P0000001") == shift_days("clinic-secret", "P0000001")
    assert shift_days("other-secret", "P0000001") != shift_days("clinic-secret", "P0000001")
    dates = Dates(10)
    assert dates.day(date(2026, 1, 11)) == "2026-01-01"
    assert dates.moment(datetime(2026, 1, 11, 9, 30, 15, 123, tzinfo=UTC)) == "2026-01-01T09:30:15+00:00"


def test_ages_over_89_are_grouped() -> None:
    assert safe_harbor_birth(date(1936, 12, 5), date(2026, 12, 4)) == ("1936", None)  # 89
    assert safe_harbor_birth(date(1936, 12, 4), date(2026, 12, 4)) == (None, "90+")  # 90 today


def _patient_line(pid: str, mrn: str, **extra: Any) -> str:
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:ref", "value": mrn}],
        "name": [{"family": "Roe", "given": ["Sam"]}],
        "gender": "female",
        "birthDate": "1970-02-03",
    }
    resource.update(extra)
    return json.dumps(resource)


def test_an_ndjson_file_reads_patients_with_conditions_and_weight() -> None:
    lines = [
        _patient_line("a", "R-1"),
        json.dumps(
            {
                "resourceType": "Condition",
                "id": "c",
                "subject": {"reference": "Patient/a"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "31681005"}]},
            }
        ),
        json.dumps(
            {
                "resourceType": "Observation",
                "id": "w",
                "status": "final",
                "subject": {"reference": "Patient/a"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "valueQuantity": {"value": 71.5, "system": "http://unitsofmeasure.org", "code": "kg"},
            }
        ),
        json.dumps({"resourceType": "Encounter", "id": "e", "status": "finished", "class": {"code": "AMB"}}),
    ]
    read = read_referrals("\n".join(lines))
    (patient,) = read.patients
    assert (patient.mrn, patient.diagnoses, patient.weight_kg) == ("R-1", ["G50.0"], 71.5)
    assert read.ignored == {"Encounter": 1}


def test_every_problem_of_every_entry_is_named() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": json.loads(_patient_line("a", "R-1", birthDate="1970"))},
            {"resource": {"resourceType": "Patient", "id": "b", "gender": "woman"}},
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c",
                    "subject": {"reference": "Patient/zz"},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G50.0"}]},
                }
            },
        ],
    }
    with pytest.raises(ManyInputsError) as raised:
        read_referrals(json.dumps(bundle))
    fields = [p.field for p in raised.value.problems]
    assert fields == [
        "entry[0].birthDate",
        "entry[1].identifier",
        "entry[1].name",
        "entry[1].birthDate",
        "entry[1].gender",
        "entry[2].subject",
    ]


def test_an_empty_or_broken_file_is_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        read_referrals("  ")
    with pytest.raises(InputError) as raised:
        read_referrals('{"resourceType": "Patient"\n{')
    assert raised.value.field == "line 1"
