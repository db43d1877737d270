"""The protocol library: shipped files, a clinic's own directory, validation errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketaclinic.dosing import get_protocol, load_protocols
from ketaclinic.dosing.choices import apply_choices
from ketaclinic.errors import DataFileError, NotFoundError

SHIPPED = {
    "valle2024",
    "cohen2018-test",
    "schwartzman2009",
    "cleveland2025",
    "inpatient-5day-weight",
    "inpatient-5day-titrated",
    "sigtermans2009",
}


def test_shipped_protocols() -> None:
    protocols = load_protocols()
    assert set(protocols) >= SHIPPED
    for p in protocols.values():
        assert p.citation and p.drug in ("racemic", "s-ketamine")
        assert p.observation_cadence in ("outpatient", "inpatient")
    assert protocols["sigtermans2009"].context == "continuous-s"
    schwartzman = protocols["schwartzman2009"]
    assert [m.drug for m in schwartzman.premedication] == ["midazolam", "clonidine"]
    assert schwartzman.schedule.session_count == 10
    valle = protocols["valle2024"]
    assert valle.block_for(1).dose_mg.value == 75  # type: ignore[union-attr]
    assert valle.block_for(2).dose_mg.value == 150  # type: ignore[union-attr]
    assert valle.block_for(1).duration_min.status.value == "local-policy"
    assert protocols["inpatient-5day-titrated"].titrated


def test_unknown_protocol() -> None:
    with pytest.raises(NotFoundError, match="valle2024"):
        get_protocol("nope")


GOOD = """
id = "{id}"
name = "Clinic protocol"
drug = "racemic"
context = "outpatient"
setting = "outpatient"
observation_cadence = "outpatient"
citation = "Clinic SOP 2025"
status = "local-policy"

[schedule]
sessions = {{ value = 3, source = "SOP", status = "local-policy" }}
interval_days = {{ value = 7, source = "SOP", status = "local-policy" }}

[[dosing]]
sessions = "all"
rate_mg_kg_h = {{ value = 0.5, source = "SOP", status = "local-policy" }}
duration_min = {{ value = 120, source = "SOP", status = "local-policy" }}
"""


def test_clinic_directory(tmp_path: Path) -> None:
    (tmp_path / "clinic-weekly.toml").write_text(GOOD.format(id="clinic-weekly"), encoding="utf-8")
    protocols = load_protocols(tmp_path)
    assert protocols["clinic-weekly"].schedule.interval_days.value == 7
    assert get_protocol("clinic-weekly", extra_dir=tmp_path).path.endswith("clinic-weekly.toml")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('drug = "racemic"', 'drug = "esketamine"'), "drug"),
        (('context = "outpatient"', 'context = "icu"'), "context"),
        (('drug = "racemic"', 'drug = "s-ketamine"'), "drug"),  # context outpatient is racemic
        (("value = 0.5,", "value = -0.5,"), "dosing[0].rate_mg_kg_h.value"),
        (
            ('value = 0.5, source = "SOP", status = "local-policy"', 'value = 0.5, source = "SOP"'),
            "dosing[0].rate_mg_kg_h",
        ),
        (('sessions = "all"', 'sessions = "2-"'), "dosing"),
        (("rate_mg_kg_h = {{", "rate_mg_hour = {{"), "dosing[0]"),
        (('citation = "Clinic SOP 2025"', ""), "citation"),
        (('observation_cadence = "outpatient"', 'observation_cadence = "icu"'), "observation_cadence"),
    ],
)
def test_invalid_files_name_file_and_field(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    text = GOOD.replace(change[0], change[1]).format(id="bad")
    assert text != GOOD.format(id="bad")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        load_protocols(tmp_path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_duplicate_and_mismatched_ids(tmp_path: Path) -> None:
    (tmp_path / "valle2024.toml").write_text(GOOD.format(id="valle2024"), encoding="utf-8")
    with pytest.raises(DataFileError, match="already defined"):
        load_protocols(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.toml").write_text(GOOD.format(id="b"), encoding="utf-8")
    with pytest.raises(DataFileError, match="file name"):
        load_protocols(other)


def test_valle_status_per_number_where_its_parts_differ() -> None:
    valle = get_protocol("valle2024")
    assert valle.status_by_field() == {
        "local-policy": ["sessions", "interval_days", "test dose duration_min", "treatment duration_min"],
        "verified": ["test dose dose_mg", "treatment dose_mg"],
    }
    by_path = valle.to_json_dict()["status_by_field"]
    assert by_path["dosing[0].dose_mg"] == by_path["dosing[1].dose_mg"] == "verified"
    assert {by_path["schedule.sessions"], by_path["schedule.interval_days"]} == {"local-policy"}


def test_every_protocol_number_is_listed_with_its_status() -> None:
    for protocol in load_protocols().values():
        paths = [path for path, _, _ in protocol.numbers()]
        assert "schedule.sessions" in paths and "dosing[0].duration_min" in paths
        if protocol.titrated:
            assert any(".titration." in path for path in paths)
        assert sum(len(v) for v in protocol.status_by_field().values()) == len(paths)


def test_two_blocks_offering_one_choice_are_refused_naming_both(tmp_path: Path) -> None:
    ranged = 'rate_mg_kg_h = {{ value = 0.5, min = 0.3, max = 0.6, source = "SOP", status = "local-policy" }}'
    two_blocks = (
        GOOD.replace('sessions = "all"', 'sessions = "1"').replace(
            'rate_mg_kg_h = {{ value = 0.5, source = "SOP", status = "local-policy" }}', ranged
        )
        + '\n[[dosing]]\nsessions = "2-"\n'
        + ranged.replace("0.5, min = 0.3, max = 0.6", "0.8, min = 0.6, max = 1.0")
    )
    two_blocks += '\nduration_min = {{ value = 120, source = "SOP", status = "local-policy" }}\n'
    path = tmp_path / "two.toml"
    path.write_text(two_blocks.format(id="two"), encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        load_protocols(tmp_path)
    assert str(path) in str(err.value)
    assert "dosing[1].rate_mg_kg_h" in str(err.value) and "like dosing[0].rate_mg_kg_h" in str(err.value)
    # One block ranged and the other fixed is a clear choice: it loads, and the choice sets that block only.
    path.write_text(two_blocks.replace("0.8, min = 0.6, max = 1.0", "0.8").format(id="two"), encoding="utf-8")
    protocol = load_protocols(tmp_path)["two"]
    chosen, _checks = apply_choices(protocol, {"rate_mg_kg_h": 0.4})
    assert [b.rate_mg_kg_h.value for b in chosen.dosing if b.rate_mg_kg_h] == [0.4, 0.8]
