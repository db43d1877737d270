"""The aggregate file of a research network without pooled patient rows: its format, and reading one back
structurally checked (counts in range, risk sets that agree with their events and censorings)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ketaclinic.errors import InputError

FORMAT = "ketaclinic-cohort-aggregate"


VERSION = 1


# Table name in the file -> the report key its pooled rates go to.
TABLES = {"diagnosis": "by_diagnosis", "mechanism": "by_mechanism", "group": "by_diagnosis_group"}


ENDPOINTS = {"relief": "weeks", "dropout": "sessions completed"}


RISK_COLUMNS = ("time", "at_risk", "events", "censored")


# Pooling rebuilds one (time, event) pair per patient; a file claiming more patients than any clinic
# network holds is refused rather than allowed to exhaust memory.
MAX_PATIENTS_PER_FILE = 10_000_000


def file_error(where: str, message: str) -> InputError:
    """Bad input naming the aggregate file and what is wrong with it."""
    return InputError(f"{where}: {message}", field="file")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PATIENTS_PER_FILE:
        raise file_error(where, f"a count is not a whole number from 0 to {MAX_PATIENTS_PER_FILE:,}")
    return value


def _check_rates(row: Any, where: str) -> dict[str, int | None] | None:
    """A responder row (None when suppressed; its missing_followup None when only that cell was)."""
    if row is None:
        return None
    if not isinstance(row, dict):
        raise file_error(where, "a responder row is not an object")
    n, responders = _count(row.get("n"), where), _count(row.get("responders"), where)
    missing = None if row.get("missing_followup") is None else _count(row["missing_followup"], where)
    if responders > n or (missing or 0) > n:
        raise file_error(where, "more responders or missing follow-ups than patients")
    return {"n": n, "responders": responders, "missing_followup": missing}


def _check_risk(table: Any, where: str) -> dict[str, list[Any]] | None:
    """A risk table whose risk sets agree with its events and censorings (time ascending)."""
    if table is None:
        return None
    if not isinstance(table, dict) or any(not isinstance(table.get(c), list) for c in RISK_COLUMNS):
        raise file_error(where, f"a survival row needs the lists {', '.join(RISK_COLUMNS)}")
    times = table["time"]
    if any(isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < math.inf for t in times):
        raise file_error(where, "a survival time is not a finite number >= 0")
    columns = {c: [_count(v, where) for v in table[c]] for c in RISK_COLUMNS[1:]}
    if any(len(v) != len(times) for v in columns.values()):
        raise file_error(where, "the survival lists differ in length")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise file_error(where, "survival times are not increasing")
    following = [*columns["at_risk"][1:], 0][: len(times)]
    for at_risk, events, censored, after in zip(*columns.values(), following, strict=True):
        if at_risk != events + censored + after:
            raise file_error(where, "a risk set does not equal the events, censorings and later risk set")
    return {"time": [float(t) for t in times], **columns}


def check_file(doc: Any, where: str) -> dict[str, Any]:
    """One aggregate file, structurally checked."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise file_error(where, f"not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise file_error(where, f"aggregate version {doc.get('version')!r}, this version reads {VERSION}")
    site = doc.get("site")
    if not isinstance(site, str) or not site:
        raise file_error(where, "no site label")
    for key in ("definition", "relief_margin_pct", "responders", "survival"):
        if not isinstance(doc.get(key), dict):
            raise file_error(where, f"no {key}")
    if not isinstance(doc["definition"].get("id"), str):
        raise file_error(where, "the responder definition has no id")
    responders = {}
    for name in TABLES:
        rows = doc["responders"].get(name)
        if not isinstance(rows, dict):
            raise file_error(where, f"no responder table {name}")
        responders[name] = {str(k): _check_rates(v, where) for k, v in rows.items()}
    survival: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        entry = doc["survival"].get(endpoint)
        if not isinstance(entry, dict) or any(not isinstance(entry.get(name), dict) for name in TABLES):
            raise file_error(where, f"no survival tables for {endpoint}")
        survival[endpoint] = {"all": _check_risk(entry.get("all"), where)}
        for name in TABLES:
            survival[endpoint][name] = {str(k): _check_risk(v, where) for k, v in entry[name].items()}
    return {
        "site": site,
        "definition": doc["definition"],
        "relief_margin_pct": doc["relief_margin_pct"],
        "synthetic": bool(doc.get("synthetic", False)),
        "totals": _check_rates(doc.get("totals"), where),
        "responders": responders,
        "survival": survival,
        "suppressed": len(doc.get("suppression", {}).get("cells", [])),
    }
