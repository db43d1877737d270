"""The numpydoc examples of the package run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["simulate", "derived", "tci", "metabolite"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"ketaclinic.pharmacology.{module}"))
    assert result.attempted > 0 and result.failed == 0
