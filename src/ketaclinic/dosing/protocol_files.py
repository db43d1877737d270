"""Reading protocol files (data/protocols/<id>.toml and a clinic's directory), validated on load.

Errors name the file and the field; the format is documented in docs/protocols.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ketaclinic.data import load_toml_path, parse_status
from ketaclinic.dosing.library import DRUGS, SETTINGS
from ketaclinic.dosing.protocols import (
    CHOOSABLE_BLOCK_KEYS,
    DosingBlock,
    Param,
    Premedication,
    Protocol,
    Schedule,
    Titration,
)
from ketaclinic.errors import DataFileError, NotFoundError

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_CADENCES = ("outpatient", "inpatient")


class _Reader:
    """Validates one protocol file, naming file and field in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, message: str) -> DataFileError:
        return DataFileError(f"{self.where}: {field}: {message}")

    def text(self, raw: Mapping[str, Any], key: str, prefix: str = "", *, default: str | None = None) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(prefix + key, "must be a non-empty string")
        return value

    def choice(self, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], prefix: str = "") -> str:
        value = raw.get(key)
        if value not in allowed:
            raise self.fail(prefix + key, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def table(self, raw: object, field: str) -> Mapping[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(field, "must be a table")
        return raw

    def param(self, raw: Mapping[str, Any], key: str, prefix: str, *, positive: bool = False) -> Param | None:
        if key not in raw:
            return None
        field = prefix + key
        entry = self.table(raw[key], field)
        unknown = set(entry) - {"value", "source", "status", "min", "max"}
        if unknown:
            raise self.fail(field, f"unknown key(s) {', '.join(sorted(unknown))}")
        value = self.number(entry, "value", field, positive)
        source = self.text(entry, "source", field + ".")
        published: tuple[float, float] | None = None
        if "min" in entry or "max" in entry:  # the physician chooses the value within [min, max]
            published = (
                self.number(entry, "min", field, positive),
                self.number(entry, "max", field, positive),
            )
            if not published[0] <= value <= published[1]:
                raise self.fail(
                    field, f"value {value:g} must lie within min {published[0]:g}..max {published[1]:g}"
                )
        status = parse_status(entry.get("status"), f"{self.where}: {field}")
        return Param(value, source, status, published)

    def number(self, entry: Mapping[str, Any], key: str, field: str, positive: bool) -> float:
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{field}.{key}", f"{value!r} must be a number")
        if value < 0 or (positive and value == 0):
            raise self.fail(f"{field}.{key}", f"{value!r} must be {'> 0' if positive else '>= 0'}")
        return float(value)

    def required(self, raw: Mapping[str, Any], key: str, prefix: str, *, positive: bool = False) -> Param:
        param = self.param(raw, key, prefix, positive=positive)
        if param is None:
            raise self.fail(prefix + key, "is required")
        return param


def _sessions_range(reader: _Reader, value: object, field: str) -> tuple[int, int | None]:
    """ "all", "3", "2-" or "2-6" -> (first, last)."""
    if value == "all" or value is None:
        return 1, None
    match = re.fullmatch(r"(\d+)(-(\d*))?", str(value))
    if match is None:
        raise reader.fail(field, f"{value!r} must be all, N, N- or N-M")
    first = int(match.group(1))
    if match.group(2) is None:
        last: int | None = first
    else:
        last = int(match.group(3)) if match.group(3) else None
    if first < 1 or (last is not None and last < first):
        raise reader.fail(field, f"{value!r} is not a valid session range")
    return first, last


def _titration(reader: _Reader, raw: object, prefix: str) -> Titration:
    entry = reader.table(raw, prefix.rstrip("."))
    action = entry.get("on_limiting_side_effect", "hold")
    if action not in ("hold", "decrease"):
        raise reader.fail(prefix + "on_limiting_side_effect", f"{action!r} is not one of hold, decrease")
    titration = Titration(
        interval_min=reader.required(entry, "interval_min", prefix, positive=True),
        increase_if_nrs_above=reader.required(entry, "increase_if_nrs_above", prefix),
        on_limiting_side_effect=action,
        start_rate_mg_h=reader.param(entry, "start_rate_mg_h", prefix, positive=True),
        start_rate_mg_kg_h=reader.param(entry, "start_rate_mg_kg_h", prefix, positive=True),
        step_mg_h=reader.param(entry, "step_mg_h", prefix, positive=True),
        step_mg_kg_h=reader.param(entry, "step_mg_kg_h", prefix, positive=True),
        max_rate_mg_h=reader.param(entry, "max_rate_mg_h", prefix, positive=True),
        max_rate_mg_kg_h=reader.param(entry, "max_rate_mg_kg_h", prefix, positive=True),
    )
    for name, pair in (
        ("start_rate", (titration.start_rate_mg_h, titration.start_rate_mg_kg_h)),
        ("step", (titration.step_mg_h, titration.step_mg_kg_h)),
    ):
        if sum(p is not None for p in pair) != 1:
            raise reader.fail(prefix + name, f"give exactly one of {name}_mg_h, {name}_mg_kg_h")
    if titration.max_rate_mg_h is None and titration.max_rate_mg_kg_h is None:
        raise reader.fail(prefix + "max_rate", "give max_rate_mg_h and/or max_rate_mg_kg_h")
    if not 0 <= titration.increase_if_nrs_above.value <= 10:
        raise reader.fail(prefix + "increase_if_nrs_above", "must be an NRS value 0-10")
    return titration


_DOSE_KEYS = ("dose_mg", "dose_mg_kg", "rate_mg_h", "rate_mg_kg_h")
_BLOCK_KEYS = {"sessions", "label", "duration_min", "max_rate_mg_h", "titration", *_DOSE_KEYS}


def _block(reader: _Reader, raw: object, index: int) -> DosingBlock:
    prefix = f"dosing[{index}]."
    entry = reader.table(raw, prefix.rstrip("."))
    unknown = set(entry) - _BLOCK_KEYS
    if unknown:
        raise reader.fail(prefix.rstrip("."), f"unknown key(s) {', '.join(sorted(unknown))}")
    first, last = _sessions_range(reader, entry.get("sessions", "all"), prefix + "sessions")
    given = [k for k in _DOSE_KEYS if k in entry] + (["titration"] if "titration" in entry else [])
    if len(given) != 1:
        raise reader.fail(prefix.rstrip("."), f"give exactly one of {', '.join(_DOSE_KEYS)}, titration")
    return DosingBlock(
        first_session=first,
        last_session=last,
        label=str(entry.get("label", "")),
        duration_min=reader.required(entry, "duration_min", prefix, positive=True),
        dose_mg=reader.param(entry, "dose_mg", prefix, positive=True),
        dose_mg_kg=reader.param(entry, "dose_mg_kg", prefix, positive=True),
        rate_mg_h=reader.param(entry, "rate_mg_h", prefix, positive=True),
        rate_mg_kg_h=reader.param(entry, "rate_mg_kg_h", prefix, positive=True),
        max_rate_mg_h=reader.param(entry, "max_rate_mg_h", prefix, positive=True),
        titration=_titration(reader, entry["titration"], prefix + "titration.")
        if "titration" in entry
        else None,
    )


def _premedication(reader: _Reader, raw: object, index: int) -> Premedication:
    prefix = f"premedication[{index}]."
    entry = reader.table(raw, prefix.rstrip("."))
    dose = entry.get("dose_mg")
    if isinstance(dose, bool) or not isinstance(dose, int | float) or not math.isfinite(dose) or dose <= 0:
        raise reader.fail(prefix + "dose_mg", f"{dose!r} must be a number > 0")
    doses = entry.get("doses", 1)
    if isinstance(doses, bool) or not isinstance(doses, int) or doses < 1:
        raise reader.fail(prefix + "doses", f"{doses!r} must be an integer >= 1")
    return Premedication(
        drug=reader.text(entry, "drug", prefix),
        dose_mg=float(dose),
        route=reader.text(entry, "route", prefix),
        doses=doses,
        timing=reader.text(entry, "timing", prefix, default="before the infusion"),
        source=reader.text(entry, "source", prefix),
        status=parse_status(entry.get("status"), f"{reader.where}: {prefix}status"),
    )


# A block's numbers the physician may choose when they carry a published range (min and max).


def _one_block_per_choice(reader: _Reader, dosing: tuple[DosingBlock, ...]) -> None:
    """A choice is one number per key: two blocks offering the same key would have to take it both (and
    silently change a block whose published range differs) or leave one unchosen, so the file is refused."""
    offered: dict[str, int] = {}
    for index, block in enumerate(dosing):
        for key in CHOOSABLE_BLOCK_KEYS:
            param = getattr(block, key)
            if param is None or param.published_range is None:
                continue
            if key in offered:
                raise reader.fail(
                    f"dosing[{index}].{key}",
                    f"has a published range (min, max) like dosing[{offered[key]}].{key}; a physician's"
                    " choice sets one number per key, so only one block may offer it (give the other a"
                    " fixed value, or make them two protocols)",
                )
            offered[key] = index


def parse_protocol(raw: Mapping[str, Any], where: str) -> Protocol:
    """Validate one parsed protocol file; errors name the file and the field."""
    reader = _Reader(where)
    protocol_id = reader.text(raw, "id")
    if not _ID.fullmatch(protocol_id):
        raise reader.fail("id", f"{protocol_id!r} must be lower-case letters, digits, '-', '_' or '.'")
    schedule_raw = reader.table(raw.get("schedule"), "schedule")
    schedule = Schedule(
        sessions=reader.required(schedule_raw, "sessions", "schedule.", positive=True),
        interval_days=reader.required(schedule_raw, "interval_days", "schedule."),
    )
    if schedule.sessions.value != int(schedule.sessions.value):
        raise reader.fail("schedule.sessions.value", "must be a whole number")
    blocks_raw = raw.get("dosing")
    if not isinstance(blocks_raw, list) or not blocks_raw:
        raise reader.fail("dosing", "needs at least one [[dosing]] block")
    dosing = tuple(_block(reader, b, i) for i, b in enumerate(blocks_raw))
    _one_block_per_choice(reader, dosing)
    premed_raw = raw.get("premedication", [])
    if not isinstance(premed_raw, list):
        raise reader.fail("premedication", "must be an array of tables [[premedication]]")
    protocol = Protocol(
        id=protocol_id,
        name=reader.text(raw, "name"),
        drug=reader.choice(raw, "drug", DRUGS),
        context=reader.text(raw, "context"),
        setting=reader.choice(raw, "setting", SETTINGS),
        observation_cadence=reader.choice(raw, "observation_cadence", _CADENCES),
        citation=reader.text(raw, "citation"),
        status=parse_status(raw.get("status"), f"{where}: status"),
        schedule=schedule,
        dosing=dosing,
        premedication=tuple(_premedication(reader, p, i) for i, p in enumerate(premed_raw)),
        notes=str(raw.get("notes", "")),
        path=where,
    )
    for number in range(1, schedule.session_count + 1):
        if not any(block.applies_to(number) for block in dosing):
            raise reader.fail("dosing", f"no block covers session {number}")
    return protocol


def _check_against_library(protocol: Protocol) -> None:
    # Imported here: the library is only needed to validate the context/drug pairing.
    from ketaclinic.dosing.library import load_library

    library = load_library()
    if protocol.context not in library.contexts:
        known = ", ".join(library.contexts)
        raise DataFileError(
            f"{protocol.path}: context: {protocol.context!r} is not a library context ({known})"
        )
    ctx = library.contexts[protocol.context]
    if ctx.drug != protocol.drug:
        raise DataFileError(f"{protocol.path}: drug: {protocol.drug!r} but context {ctx.id} is {ctx.drug}")


def _read_dir(directory: Path) -> list[Protocol]:
    if not directory.is_dir():
        raise DataFileError(f"{directory}: not a directory")
    protocols = []
    for path in sorted(directory.glob("*.toml")):
        protocol = parse_protocol(load_toml_path(path), str(path))
        if protocol.id != path.stem:
            raise DataFileError(f"{path}: id: {protocol.id!r} must match the file name {path.stem!r}")
        _check_against_library(protocol)
        protocols.append(protocol)
    return protocols


def _shipped() -> list[Protocol]:
    folder = resources.files("ketaclinic.data").joinpath("protocols")
    with resources.as_file(folder) as path:
        return _read_dir(Path(path))


def load_protocols(extra_dir: Path | None = None) -> dict[str, Protocol]:
    """Shipped protocols plus a clinic's own directory (an id may not be defined twice)."""
    protocols = {p.id: p for p in _shipped()}
    if extra_dir is not None:
        for protocol in _read_dir(extra_dir):
            if protocol.id in protocols:
                raise DataFileError(f"{protocol.path}: id: {protocol.id!r} is already defined")
            protocols[protocol.id] = protocol
    return protocols


def get_protocol(protocol_id: str, *, extra_dir: Path | None = None) -> Protocol:
    """The protocol with this id; unknown ids are a NotFoundError naming the known ones."""
    protocols = load_protocols(extra_dir)
    try:
        return protocols[protocol_id]
    except KeyError:
        known = ", ".join(protocols)
        raise NotFoundError(f"unknown protocol {protocol_id!r} (known: {known})", field="protocol") from None
