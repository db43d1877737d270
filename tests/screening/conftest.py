"""Fixtures for the screening tests."""

from __future__ import annotations

from typing import Any

import pytest
from tests.screening.screening_samples import eligible_tn


@pytest.fixture
def intake_data() -> dict[str, Any]:
    """An eligible TN intake as raw JSON-like data."""
    return eligible_tn()
