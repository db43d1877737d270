"""Every table module of the store; `load_all()` imports them so metadata is complete (Alembic, tests)."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every module of this package so each table registers on `Base.metadata`."""
    for module_info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module_info.name}")
