"""Concentration bands that matter clinically (data/concentration_bands.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, NotFoundError

_FILE = "concentration_bands.toml"


@dataclass(frozen=True, slots=True)
class ConcentrationBand:
    """A plasma concentration range (ng/mL) with its source."""

    key: str
    label: str
    low_ng_ml: float
    high_ng_ml: float
    source: str
    status: Status


@cache
def concentration_bands() -> tuple[ConcentrationBand, ...]:
    """Every shipped band, in file order."""
    bands = []
    for row in load_toml(_FILE).get("band", []):
        where = f"{_FILE} [{row.get('key')}]"
        try:
            low, high = float(row["low_ng_ml"]), float(row["high_ng_ml"])
            band = ConcentrationBand(
                str(row["key"]),
                str(row["label"]),
                low,
                high,
                str(row["source"]),
                parse_status(row["status"], where),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(f"{where}: {exc}") from exc
        if not 0 <= low < high:
            raise DataFileError(f"{where}: needs 0 <= low_ng_ml < high_ng_ml")
        bands.append(band)
    return tuple(bands)


def get_band(key: str) -> ConcentrationBand:
    """The band with this key."""
    for band in concentration_bands():
        if band.key == key:
            return band
    valid = ", ".join(b.key for b in concentration_bands())
    raise NotFoundError(f"unknown concentration band {key!r}; valid keys: {valid}", field="band")
