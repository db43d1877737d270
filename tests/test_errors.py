"""The one error-to-status table: every error class has an answer, and the edges read it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pydantic
import pytest

import ketaclinic
from ketaclinic import errors
from ketaclinic.errors import ANSWERS, KetaclinicError, http_status


def _classes_of_errors_module() -> list[type[BaseException]]:
    return [
        cls
        for _name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]


def test_every_error_class_of_errors_py_has_its_own_status() -> None:
    """A class added to errors.py without a row in the table fails here (the base is abstract)."""
    missing = [
        c.__name__ for c in _classes_of_errors_module() if c is not KetaclinicError and c not in ANSWERS
    ]
    assert not missing, f"add to ketaclinic.errors.ANSWERS: {missing}"


def test_every_ketaclinic_error_anywhere_in_src_answers_through_the_table() -> None:
    for info in pkgutil.walk_packages(ketaclinic.__path__, prefix="ketaclinic."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    pending: list[type[BaseException]] = [KetaclinicError]
    seen: list[type[BaseException]] = []
    while pending:
        cls = pending.pop()
        seen.append(cls)
        pending.extend(cls.__subclasses__())
    unanswered = [
        f"{c.__module__}.{c.__qualname__}"
        for c in seen
        if c is not KetaclinicError and not any(base in ANSWERS for base in c.__mro__)
    ]
    assert not unanswered


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.InputError("bad", field="f"), 422),
        (errors.NotFoundError("none"), 404),
        (errors.ConflictError("locked"), 409),
        (errors.GoneError("spent"), 410),
        (errors.PermissionDeniedError("no"), 403),
        (errors.DataFileError("broken"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_http_status_reads_the_table(exc: BaseException, status: int) -> None:
    assert http_status(exc) == status


def test_a_pydantic_validation_error_is_422() -> None:
    class Model(pydantic.BaseModel):
        n: int

    with pytest.raises(pydantic.ValidationError) as caught:
        Model.model_validate({"n": "x"})
    assert http_status(caught.value) == 422


def test_subclasses_answer_as_their_base() -> None:
    from ketaclinic.services.outcomes.links import LinkGoneError

    assert http_status(LinkGoneError("this link has expired")) == 410
