"""Cohort CSV reading: every bad cell reported with row and column, nothing accepted from a bad file."""

from pathlib import Path

import numpy as np
import pytest

from ketaclinic.outcomes import CohortFileError, RowError, read_cohort_csv

HEADER = (
    "patient_id,diagnosis,pain_mechanism,baseline_nrs,followup_nrs,discontinued,relief_weeks,relief_ongoing"
)
GOOD = [
    "P1,G50.0,neuropathic,8,3,none,12,1",
    "P2,m79.7,Nociplastic,7,,lack_of_effect,,",
    "P3,G89.4,nociceptive,6,5,,1,0",
]


def test_reads_good_file_into_columns_and_records(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("# synthetic: true\n# source: unit test\n" + "\n".join([HEADER, *GOOD]) + "\n")
    cohort = read_cohort_csv(path)
    assert cohort.n == 3
    assert cohort.synthetic and cohort.metadata["source"] == "unit test"
    assert cohort.diagnosis.tolist() == ["G50.0", "M79.7", "G89.4"]
    assert cohort.pain_mechanism.tolist() == ["neuropathic", "nociplastic", "nociceptive"]
    assert np.isnan(cohort.followup_nrs[1]) and cohort.followup_nrs[0] == 3
    assert cohort.discontinued.tolist() == ["none", "lack_of_effect", "none"]
    assert cohort.diagnosis_group.tolist() == [
        "trigeminal_neuralgia",
        "fibromyalgia",
        cohort.diagnosis_group[2],
    ]
    assert cohort.records[0].relief_ongoing is True and cohort.records[2].relief_ongoing is False
    assert read_cohort_csv(str(path)).n == 3  # a path given as text


def test_all_errors_collected_with_row_and_column() -> None:
    text = "\n".join(
        [
            HEADER,  # row 1
            GOOD[0],  # row 2
            "P2,G50.0,neuropathic,11,3,none,2,0",  # row 3: NRS 11
            "P3,X99.9,neuropathic,8,3,none,2,0",  # row 4: unknown code
            "P4,G50.0,neuropathic,,3,none,2,0",  # row 5: follow-up without baseline
            "P1,G50.0,neuropathic,8,3,none,2,0",  # row 6: duplicate patient_id
            "P6,G50.0,neuropathic,eight,3,none,2,0",  # row 7: non-numeric
            "P7,G50.0,visceral,8,3,maybe,2,2",  # row 8: three bad cells
        ]
    )
    with pytest.raises(CohortFileError) as err:
        read_cohort_csv(text)
    errors = err.value.errors
    assert [(e.row, e.column) for e in errors] == [
        (3, "baseline_nrs"),
        (4, "diagnosis"),
        (5, "baseline_nrs"),
        (6, "patient_id"),
        (7, "baseline_nrs"),
        (8, "pain_mechanism"),
        (8, "discontinued"),
        (8, "relief_ongoing"),
    ]
    assert str(err.value) == "6 bad rows; first: row 3, column baseline_nrs: 11 is outside 0-10"
    assert "first on row 2" in errors[3].message
    assert "'eight' is not a number" in errors[4].message
    assert isinstance(errors[0], RowError) and str(errors[0]).startswith("row 3, column baseline_nrs")


def test_metadata_lines_count_as_rows() -> None:
    text = "# synthetic: true\n" + HEADER + "\nP1,G50.0,neuropathic,8,12,none,2,0\n"
    with pytest.raises(CohortFileError) as err:
        read_cohort_csv(text)
    assert (err.value.errors[0].row, err.value.errors[0].column) == (3, "followup_nrs")


def test_missing_and_unknown_columns() -> None:
    with pytest.raises(CohortFileError) as err:
        read_cohort_csv("patient_id,diagnosis,colour\nP1,G50.0,red\n")
    cols = {e.column for e in err.value.errors}
    assert {"pain_mechanism", "baseline_nrs", "relief_ongoing"} <= cols
    with pytest.raises(CohortFileError, match="unknown column"):
        read_cohort_csv(HEADER + ",shoe_size\n" + GOOD[0] + ",42\n")


def test_optional_columns_are_validated() -> None:
    header = HEADER + ",sessions_planned,sessions_completed,total_dose_mg,adverse_events,sex"
    ok = read_cohort_csv(header + "\nP1,G50.0,neuropathic,8,3,none,2,0,3,2,300,Nausea; dizziness,female\n")
    assert ok.records[0].adverse_events == ("nausea", "dizziness")
    assert ok.sessions_completed[0] == 2
    with pytest.raises(CohortFileError) as err:
        read_cohort_csv(header + "\nP1,G50.0,neuropathic,8,3,none,2,0,3,4,-5,,robot\n")
    assert sorted(e.column for e in err.value.errors) == ["sessions_completed", "sex", "total_dose_mg"]


def test_empty_file_and_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(CohortFileError, match="no data rows"):
        read_cohort_csv(HEADER + "\n")
    with pytest.raises(Exception, match="cannot read"):
        read_cohort_csv(tmp_path / "missing.csv")
