"""The crisis text: a labelled shipped default with no invented phone number, replaced by the clinic's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError
from ketaclinic.outcomes.crisis import crisis_text


def test_the_shipped_text_sends_the_patient_to_emergency_services_and_the_clinic() -> None:
    shipped = crisis_text()
    words = " ".join(shipped.paragraphs)
    assert shipped.status is Status.LOCAL_POLICY and "ketaclinic default" in shipped.source
    assert "emergency" in words and "clinic" in words
    assert not re.search(r"\d", words)  # no phone number: crisis lines differ by country


def test_the_clinic_text_replaces_it_and_stays_local_policy(tmp_path: Path) -> None:
    path = tmp_path / "crisis_text.toml"
    path.write_text('heading = "Need help now?"\ntext = """Line one.\n\nLine two."""\n', encoding="utf-8")
    clinic = crisis_text(path)
    assert clinic.heading == "Need help now?" and clinic.paragraphs == ("Line one.", "Line two.")
    assert clinic.status is Status.LOCAL_POLICY and str(path) in clinic.source
    assert crisis_text(tmp_path / "absent.toml") == crisis_text()


@pytest.mark.parametrize("body", ['text = ""\n', 'heading = "h"\n', 'text = "t"\nphone = "1"\n'])
def test_a_broken_clinic_text_names_the_file(tmp_path: Path, body: str) -> None:
    path = tmp_path / "crisis_text.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DataFileError, match=r"crisis_text\.toml"):
        crisis_text(path)
