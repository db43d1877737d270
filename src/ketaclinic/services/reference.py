"""The clinic's drug library, protocols and weight checks: shipped files, the clinic's overrides on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ketaclinic.dosing import (
    DrugLibrary,
    Protocol,
    load_library,
    load_protocols,
)
from ketaclinic.dosing.weight_checks import WEIGHT_CHECKS_FILE, WeightPolicy, load_weight_policy
from ketaclinic.errors import NotFoundError
from ketaclinic.settings import Settings

LIBRARY_OVERRIDE_FILE = "drug_library.toml"


PROTOCOLS_DIR = "protocols"


@dataclass(frozen=True, slots=True)
class ClinicReference:
    """The drug library (with the clinic's override applied), every protocol (shipped + clinic's) and
    the weight checks (with the clinic's override applied)."""

    library: DrugLibrary
    protocols: Mapping[str, Protocol]
    config_dir: Path | None
    weights: WeightPolicy

    def protocol(self, protocol_id: str) -> Protocol:
        """The protocol with this id; unknown ids are a NotFoundError naming the known ones."""
        try:
            return self.protocols[protocol_id]
        except KeyError:
            known = ", ".join(self.protocols)
            raise NotFoundError(
                f"unknown protocol {protocol_id!r} (known: {known})", field="protocol_id"
            ) from None


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else -1.0


@lru_cache(maxsize=8)
def _load_reference(config_dir: Path | None, _stamps: tuple[float, ...]) -> ClinicReference:
    override = None
    extra = None
    weights = None
    if config_dir is not None:
        candidate = config_dir / LIBRARY_OVERRIDE_FILE
        override = candidate if candidate.is_file() else None
        folder = config_dir / PROTOCOLS_DIR
        extra = folder if folder.is_dir() else None
        weights_file = config_dir / WEIGHT_CHECKS_FILE
        weights = weights_file if weights_file.is_file() else None
    return ClinicReference(
        load_library(override), load_protocols(extra), config_dir, load_weight_policy(weights)
    )


def clinic_library(source: Settings | Path | None) -> ClinicReference:
    """The one way services load the library and protocols: shipped data plus the clinic's config dir.

    `source` is the app's Settings (its config_dir, KETACLINIC_CONFIG_DIR), a config directory, or None
    (shipped data only). The config dir may hold drug_library.toml (override), protocols/*.toml and
    weight_checks.toml (override).
    Reloaded when those files change.
    """
    config_dir = source.config_dir if isinstance(source, Settings) else source
    stamps: tuple[float, ...] = ()
    if config_dir is not None:
        folder = config_dir / PROTOCOLS_DIR
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        stamps = (
            _stamp(config_dir / LIBRARY_OVERRIDE_FILE),
            _stamp(config_dir / WEIGHT_CHECKS_FILE),
            *(_stamp(p) for p in files),
            float(len(files)),
        )
    return _load_reference(config_dir, stamps)
