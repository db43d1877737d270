"""docs/intake.md stays in step with the model: the generated schema and the example parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ketaclinic.screening import CONDITION_CODES, Verdict, evaluate, intake_json_schema, parse_intake

DOC = Path(__file__).resolve().parents[2] / "docs" / "intake.md"


def _json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_documented_schema_is_the_generated_one() -> None:
    assert json.loads(_json_blocks()[-1]) == intake_json_schema()


def test_documented_example_screens() -> None:
    result = evaluate(parse_intake(json.loads(_json_blocks()[0])))
    assert result.verdict is Verdict.ELIGIBLE
    assert [t.code for t in result.required_tests] == ["ecg"]


def test_every_condition_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert all(f"| `{code}` |" in text for code in CONDITION_CODES)
