"""The OpenAPI document's error answers: every operation declares the problem+json bodies it can give."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

PROBLEM_MEDIA_TYPE = "application/problem+json"
REF = "#/components/schemas/{model}"


class FieldProblem(BaseModel):
    """One field's problem when several are named together (a file's problem also names row and column)."""

    model_config = ConfigDict(extra="allow")
    field: str | None = None
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: what went wrong and, for bad input, the field to correct."""

    # Some problems add members (a stale edit's changed_fields and current version).
    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldProblem] | None = None


# What any operation may answer besides its success: the status table of ketaclinic.errors.ANSWERS,
# the login check, and the router's own (a body that is not JSON at all is a 400).
PROBLEM_STATUSES: dict[int, str] = {
    400: "Malformed request (the body cannot be read)",
    401: "Not authenticated (no valid bearer token or session)",
    403: "Forbidden (the caller's role may not do this, or a stale CSRF token)",
    404: "Not found",
    409: "Conflict (the record's state or a newer version is in the way)",
    410: "Gone (a spent or expired one-time link)",
    422: "Invalid input (the problem names the field)",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF.format(model="ProblemDetails")}}},
    }
    for status, description in PROBLEM_STATUSES.items()
}


def install_openapi(app: FastAPI) -> None:
    """Build the document once, with ProblemDetails among its schemas for the shared error answers."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ProblemDetails, FieldProblem):
                definitions = model.model_json_schema(ref_template=REF)
                definitions.pop("$defs", None)
                components[model.__name__] = definitions
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
