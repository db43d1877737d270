"""REDCap export of the demo clinic: the dictionary's 18 columns, records whose columns are its fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ketaclinic.errors import ConflictError, PermissionDeniedError
from ketaclinic.interop.redcap import DICTIONARY_COLUMNS, REPEAT_COLUMNS, Field, records_csv
from ketaclinic.services import demo
from ketaclinic.services.interop.redcap_export import write_redcap_export
from ketaclinic.services.patients.registry import list_patients
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.store.db import Database
from tests.audit_support import latest_event

SECRET = "clinic-secret"


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _choices(text: str) -> set[str]:
    return {part.split(",", 1)[0].strip() for part in text.split("|") if part.strip()}


@pytest.mark.parametrize("identified", [False, True])
def test_records_hold_only_dictionary_fields_and_coded_values_from_its_choices(
    db: Database, tmp_path: Path, identified: bool
) -> None:
    demo.seed_demo(db, patient_count=6, config=None)
    written = write_redcap_export(db, SYSTEM, tmp_path, secret=SECRET, identified=identified)
    header, dictionary = _read(written.dictionary)
    assert tuple(header) == DICTIONARY_COLUMNS and len(header) == 18
    fields = {row["Variable / Field Name"]: row for row in dictionary}
    assert dictionary[0]["Variable / Field Name"] == "record_id"
    columns, records = _read(written.records)
    assert set(columns) - set(REPEAT_COLUMNS) == set(fields)
    assert columns[:3] == ["record_id", *REPEAT_COLUMNS]
    repeating = {row["Form Name"] for row in dictionary} - {"patient"}
    checked = 0
    for record in records:
        form = record["redcap_repeat_instrument"]
        assert form == "" or form in repeating
        for name, value in record.items():
            if not value or name in REPEAT_COLUMNS:
                continue
            field = fields[name]
            if field["Field Type"] in ("dropdown", "radio"):
                assert value in _choices(field["Choices, Calculations, OR Slider Labels"]), (name, value)
                checked += 1
            if field["Text Validation Type OR Show Slider Number"] == "integer":
                int(value)
            if field["Text Validation Type OR Show Slider Number"] == "number":
                float(value)
            if field["Text Validation Type OR Show Slider Number"] == "date_ymd":
                assert len(value) == 10 and value[4] == "-" and value[7] == "-"
    assert checked > 0
    assert len([r for r in records if r["redcap_repeat_instrument"] == ""]) == written.patients == 6
    identifiers = {n for n, row in fields.items() if row["Identifier?"] == "y"}
    assert {"session_date", "pro_date", "course_start"} <= identifiers
    assert ({"mrn", "family_name", "given_name", "birth_date"} <= identifiers) is identified
    event = latest_event(db, "redcap")
    assert json.loads(event.changes_json)["deidentified"]["new"] is not identified


def test_the_deidentified_records_name_nobody(db: Database, tmp_path: Path) -> None:
    demo.seed_demo(db, patient_count=6, config=None)
    written = write_redcap_export(db, SYSTEM, tmp_path, secret=SECRET)
    text = written.records.read_text()
    for patient in list_patients(db, SYSTEM)[0]:
        assert getattr(patient, "mrn") not in text  # noqa: B009
        assert getattr(patient, "family_name") not in text  # noqa: B009
    with pytest.raises(ConflictError):
        write_redcap_export(db, SYSTEM, tmp_path, secret=SECRET)


def test_researchers_export_deidentified_only(db: Database, tmp_path: Path) -> None:
    actors = demo.seed_demo(db, patient_count=6, config=None)
    write_redcap_export(db, actors.researcher, tmp_path / "a", secret=SECRET)
    with pytest.raises(PermissionDeniedError):
        write_redcap_export(db, actors.researcher, tmp_path / "b", secret=SECRET, identified=True)
    with pytest.raises(PermissionDeniedError):
        write_redcap_export(db, actors.nurse, tmp_path / "c", secret=SECRET)


def test_a_record_column_outside_the_dictionary_is_refused() -> None:
    fields = [Field("record_id", "patient", "text", "ID")]
    with pytest.raises(ValueError, match="not fields"):
        records_csv(fields, [{"record_id": "a", "age": 3}], repeating=False)
    with pytest.raises(ValueError):
        Field("Bad Name", "patient", "text", "x")
    with pytest.raises(ValueError):
        Field("sex", "patient", "radio", "Sex")


def test_the_parquet_snapshot_holds_the_deidentified_tables(db: Database, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from ketaclinic.services.interop.parquet_export import write_parquet_snapshot

    actors = demo.seed_demo(db, patient_count=6, config=None)
    written = write_parquet_snapshot(db, actors.researcher, tmp_path, secret=SECRET)
    patients = pq.read_table(written.files["patient"]).to_pylist()
    assert len(patients) == 6 and "mrn" not in patients[0] and "family_name" not in patients[0]
    sessions = pq.read_table(written.files["session"])
    assert sessions.num_rows == written.rows["session"] > 0
    assert str(sessions.schema.field("session_date").type) == "date32[day]"
    assert set(sessions.column_names) >= {"record_id", "instance", "session_given_mg"}
    assert json.loads(latest_event(db, "cohort").changes_json)["format"]["new"] == "parquet"
    with pytest.raises(ConflictError):
        write_parquet_snapshot(db, actors.researcher, tmp_path, secret=SECRET)
    with pytest.raises(PermissionDeniedError):
        write_parquet_snapshot(db, actors.nurse, tmp_path / "n", secret=SECRET)
