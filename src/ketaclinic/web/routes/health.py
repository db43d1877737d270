"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ketaclinic import __version__
from ketaclinic.web.deps import DbDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: DbDep) -> dict[str, Any]:
    """The app answers and its database answers."""
    db.ping()
    return {"status": "ok", "database": db.dialect, "version": __version__}
