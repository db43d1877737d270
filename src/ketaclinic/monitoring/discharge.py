"""Discharge checklist (discharge.toml, local-policy): vitals back near baseline, RASS 0, answers all yes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring.observations import Observation


class DischargeItem(BaseModel):
    """One checklist line: met or not, with the reason shown to the nurse."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    ok: bool
    detail: str


class DischargeResult(BaseModel):
    """The whole checklist; `ok` only when every item is met."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    items: list[DischargeItem]
    source: str
    status: Status

    @property
    def unmet(self) -> list[str]:
        """Labels of the items not met."""
        return [item.label for item in self.items if not item.ok]


@dataclass(frozen=True, slots=True)
class _Criteria:
    vitals: tuple[tuple[str, str, float], ...]  # field, label, margin_pct
    spo2_label: str
    spo2_max_drop: float
    rass_label: str
    rass_required: int
    questions: tuple[tuple[str, str], ...]  # key, label
    source: str
    status: Status


@cache
def discharge_criteria() -> _Criteria:
    """The shipped discharge criteria."""
    raw = load_toml("discharge.toml")
    try:
        return _Criteria(
            vitals=tuple((v["field"], v["label"], float(v["margin_pct"])) for v in raw["vital"]),
            spo2_label=raw["spo2"]["label"],
            spo2_max_drop=float(raw["spo2"]["max_drop"]),
            rass_label=raw["rass"]["label"],
            rass_required=int(raw["rass"]["required"]),
            questions=tuple((q["key"], q["label"]) for q in raw["question"]),
            source=raw["source"],
            status=parse_status(raw["status"], "discharge.toml"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"discharge.toml: {exc!r}") from None


def _number(obs: Observation | None, name: str) -> float | None:
    value = None if obs is None else obs.value_of(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def discharge_check(
    baseline: Observation | None, last_obs: Observation | None, answers: Mapping[str, bool | None]
) -> DischargeResult:
    """Check the discharge criteria against the baseline, the last reading and the nurse's answers."""
    criteria = discharge_criteria()
    items: list[DischargeItem] = []
    for name, label, margin_pct in criteria.vitals:
        base, now = _number(baseline, name), _number(last_obs, name)
        if base is None or now is None:
            missing = "no baseline" if base is None else "not charted in the last reading after the end"
            items.append(DischargeItem(key=name, label=label, ok=False, detail=missing))
            continue
        allowed = abs(base) * margin_pct / 100.0
        ok = abs(now - base) <= allowed
        detail = f"{now:g} vs baseline {base:g} (allowed +/- {allowed:g})"
        items.append(DischargeItem(key=name, label=label, ok=ok, detail=detail))

    base_spo2, now_spo2 = _number(baseline, "spo2"), _number(last_obs, "spo2")
    if base_spo2 is None or now_spo2 is None:
        detail = "no baseline" if base_spo2 is None else "not charted in the last reading after the end"
        items.append(DischargeItem(key="spo2", label=criteria.spo2_label, ok=False, detail=detail))
    else:
        ok = now_spo2 >= base_spo2 - criteria.spo2_max_drop
        detail = f"{now_spo2:g} % vs baseline {base_spo2:g} %"
        items.append(DischargeItem(key="spo2", label=criteria.spo2_label, ok=ok, detail=detail))

    rass = _number(last_obs, "rass")
    if rass is None:
        items.append(DischargeItem(key="rass", label=criteria.rass_label, ok=False, detail="not charted"))
    else:
        ok = int(rass) == criteria.rass_required
        items.append(DischargeItem(key="rass", label=criteria.rass_label, ok=ok, detail=f"RASS {int(rass)}"))

    for key, label in criteria.questions:
        answer = answers.get(key)
        detail = "yes" if answer is True else ("no" if answer is False else "not answered")
        items.append(DischargeItem(key=key, label=label, ok=answer is True, detail=detail))

    return DischargeResult(
        ok=all(item.ok for item in items), items=items, source=criteria.source, status=criteria.status
    )
