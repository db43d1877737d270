"""Form reading and problem flattening, written once for every screen."""

from __future__ import annotations

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.web import forms


class _Pair(pydantic.BaseModel):
    a: int
    b: list[int]


def _invalid() -> pydantic.ValidationError:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Pair.model_validate({"a": "x", "b": [1, "y"]})
    return caught.value


def test_reading_fields() -> None:
    form = FormData([("n", " 2.5"), ("e", ""), ("c", "x"), ("c", ""), ("c", "y")])
    assert forms.blank(form.get("e")) is None and forms.text(form, "missing") == ""
    assert forms.number(form.get("n"), "n") == 2.5 and forms.number("", "n") is None
    assert forms.chosen(form, "c") == ["x", "y"]
    with pytest.raises(InputError) as caught:
        forms.number("inf", "dose")
    assert caught.value.field == "dose"


def test_prior_treatment_rows_without_a_name_are_left_out() -> None:
    rows = [("treatment_name", " gabapentin "), ("treatment_outcome", "failed")]
    form = FormData([*rows, ("treatment_name", " "), ("treatment_outcome", "partial")])
    assert forms.prior_treatments(form) == [{"name": "gabapentin", "outcome": "failed"}]


def test_flattening_a_validation_error() -> None:
    exc = _invalid()
    assert forms.form_errors(exc) == {
        "a": forms.field_messages(exc)[0][1],
        "b.1": forms.field_messages(exc)[1][1],
    }
    assert list(forms.form_errors(exc, top_level=True)) == ["a", "b"]
    assert forms.error_line(exc).startswith("a: ") and len(forms.error_lines(exc)) == 2


def test_flattening_the_projects_errors() -> None:
    assert forms.form_errors(InputError("too high", field="dose")) == {"dose": "too high"}
    assert forms.form_errors(ConflictError("signed")) == {"form": "signed"}
    assert forms.error_line(InputError("too high", field="dose")) == "dose: too high"
    assert forms.error_line(ConflictError("signed")) == "signed"


def test_validated_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        forms.validated(_Pair, {"a": 1, "b": ["z"]})
    assert caught.value.field == "b.0"


class _Bounded(pydantic.BaseModel):
    weight_kg: float = pydantic.Field(ge=1, le=400)
    nrs: int


@given(weight=st.floats(allow_nan=False, allow_infinity=False).filter(lambda w: not 1 <= w <= 400))
def test_a_bound_is_said_in_clinical_words_with_its_unit(weight: float) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Bounded.model_validate({"weight_kg": weight, "nrs": 5})
    line = forms.error_line(caught.value, {"weight_kg": ("Weight today", "kg")})
    bound = "at least 1 kg" if weight < 1 else "at most 400 kg"
    assert line.startswith(f"Weight today: must be {bound}; ") and line.endswith(" kg was entered")
    assert "Input should" not in line and "weight_kg" not in line


@given(value=st.one_of(st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False)))
def test_no_validator_phrase_reaches_a_form(value: object) -> None:
    try:
        _Bounded.model_validate({"weight_kg": 70, "nrs": value})
    except pydantic.ValidationError as exc:
        message = forms.form_errors(exc)["nrs"]
        assert "Input should" not in message and "valid integer" not in message
