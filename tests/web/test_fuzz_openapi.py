"""A bounded, seeded fuzz of every operation in the app's own OpenAPI document, as every role.

Each operation gets a few generated requests that fit the schema and a few that do not, each sent as
a drawn caller: the admin, a physician, a nurse, a researcher or nobody (fresh tokens per operation,
so a fuzzed token revocation cannot blind the rest). The checks: never a 5xx, and every answer is
one the operation declares (status, media type and body). The seed is fixed, so a failure replays.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ketaclinic.services import api_tokens
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database

# Examples per operation and mode: ~2,800 requests, 29-42 s on SQLite and 29-50 s on PostgreSQL on 2 cores.
EXAMPLES_PER_MODE = 20
# Operations are dealt round-robin to this many tests, so parallel test workers can share the fuzz.
SHARDS = 4
ROLES = ("admin", "physician", "nurse", "researcher", None)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    tokens: dict[str, str],
    failures: list[str],
) -> None:
    """Send EXAMPLES_PER_MODE cases of `operation` in `mode`, each as a drawn caller; list what fails."""

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: every failing case is listed as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), role=st.sampled_from(ROLES))
    def send(case, role: str | None) -> None:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as failure:  # each failing case is listed, the run goes on
            first = " | ".join(str(failure).strip().splitlines()[:6])
            failures.append(f"{operation.label} as {role or 'nobody'} ({mode.value}): {first}")

    try:
        send()
    except Unsatisfiable:
        # Nothing to get wrong: an operation without parameters or body has no negative case.
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_operation_answers_within_its_schema_and_never_5xx(
    app: FastAPI, web_db: Database, web_staff: dict[str, Actor], shard: int
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    results = list(schema.get_all_operations())
    assert len(results) >= 70  # every operation of the API is reached across the shards, not a filtered few
    failures: list[str] = []
    for result in results[shard::SHARDS]:
        if isinstance(result, Err):
            failures.append(f"an operation the fuzzer cannot read: {result.err()}")
            continue
        operation = result.ok()
        tokens = {
            role: api_tokens.create_api_token(web_db, web_staff[role], "fuzz")[1] for role in ROLES if role
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, tokens, failures)
    assert failures == [], f"{len(failures)} failing cases:\n" + "\n".join(failures)
