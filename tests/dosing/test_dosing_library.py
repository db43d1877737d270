"""The drug library, its checks and clinic overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.dosing import (
    LimitCheck,
    check_bolus,
    check_charted_session_total,
    check_rate,
    check_series_total,
    check_session_total,
    load_library,
    worst_verdict,
)
from ketaclinic.dosing.library import QUANTITIES, apply_override
from ketaclinic.errors import DataFileError, NotFoundError

LIB = load_library()


def test_contexts_and_defaults_from_the_reference() -> None:
    assert set(LIB.contexts) == {"outpatient", "continuous", "outpatient-s", "continuous-s"}
    out = LIB.context("outpatient")
    assert out.concentrations.values_mg_ml == (1.0,)
    rate = out.limit_set("rate_mg_kg_h")
    assert (rate.soft_max and rate.soft_max.value, rate.hard_max and rate.hard_max.value) == (1.0, 2.0)
    bolus = out.limit_set("bolus_mg_kg")
    assert (bolus.soft_max and bolus.soft_max.value, bolus.hard_max and bolus.hard_max.value) == (0.35, 0.5)
    cont = LIB.context("continuous")
    assert cont.limit_set("rate_mg_h").hard_max.value == 40.0  # type: ignore[union-attr]
    assert cont.limit_set("rate_mg_kg_h").hard_max.value == 0.5  # type: ignore[union-attr]
    assert LIB.context("outpatient-s").drug == "s-ketamine"


def test_every_number_has_source_and_status() -> None:
    for ctx in LIB.contexts.values():
        assert ctx.concentrations.source
        for limit_set in ctx.limits.values():
            for kind in ("hard_min", "soft_min", "soft_max", "hard_max"):
                value = limit_set.get(kind)
                if value is not None:
                    assert value.source and isinstance(value.status, Status)
        # every quantity of the issue is present
        assert set(ctx.limits) == set(QUANTITIES)


def test_unknown_context() -> None:
    with pytest.raises(NotFoundError, match="outpatient"):
        LIB.context("icu")


@pytest.mark.parametrize(
    ("rate_mg_h", "weight", "verdict", "kind"),
    [
        (56, 80, "ok", "soft_max"),  # 0.7 mg/kg/h
        (96, 80, "soft", "soft_max"),  # 1.2 mg/kg/h
        (200, 80, "hard", "hard_max"),  # 2.5 mg/kg/h
        (180, 120, "soft", "soft_max"),  # 1.5 mg/kg/h and 180 mg/h: both soft
        (210, 120, "hard", "hard_max"),  # 1.75 mg/kg/h but above the 200 mg/h cap
        (1, 80, "soft", "soft_min"),  # 0.0125 mg/kg/h: a 10x under-dose?
        (2, 80, "ok", "soft_max"),  # 0.025 mg/kg/h: 0.1 mg/kg over 4 h (Cohen 2018 digest)
        (0, 80, "ok", "soft_max"),  # stopped pump
    ],
)
def test_check_rate(rate_mg_h: float, weight: float, verdict: str, kind: str) -> None:
    check = check_rate(LIB, "outpatient", rate_mg_h=rate_mg_h, weight_kg=weight)
    assert check.verdict == verdict
    assert check.limit_kind == kind
    assert check.source


def test_check_rate_on_the_limit_is_not_a_breach() -> None:
    # 0.35 mg/kg/h x 70 kg round-trips through floating point; it must stay "ok"
    assert check_rate(LIB, "continuous", rate_mg_h=0.35 * 70, weight_kg=70).verdict == "ok"


def test_check_bolus_session_series() -> None:
    assert check_bolus(LIB, "outpatient", dose_mg=24, weight_kg=80).verdict == "ok"
    assert check_bolus(LIB, "outpatient", dose_mg=32, weight_kg=80).verdict == "soft"
    assert check_bolus(LIB, "outpatient", dose_mg=45, weight_kg=80).verdict == "hard"
    low = check_session_total(LIB, "outpatient", total_mg=75)  # below 80 mg: information, not a limit
    assert (low.verdict, low.limit, low.limit_kind) == ("ok", 200.0, "soft_max")
    assert check_session_total(LIB, "outpatient", total_mg=150).verdict == "ok"
    assert check_series_total(LIB, "outpatient", total_mg=2500).verdict == "hard"


def test_charted_session_total_applies_maxima_only() -> None:
    low = check_charted_session_total(LIB, "outpatient", total_mg=20)
    assert low.verdict == "ok"  # below the 80 mg dose-response minimum: never a charting block
    soft = check_charted_session_total(LIB, "outpatient", total_mg=250)
    assert (soft.verdict, soft.limit, soft.limit_kind) == ("soft", 200.0, "soft_max")
    hard = check_charted_session_total(LIB, "outpatient", total_mg=320)
    assert (hard.verdict, hard.limit, hard.limit_kind) == ("hard", 300.0, "hard_max")
    assert hard.message.startswith("projected session total") and "hard max 300" in hard.message


@given(st.sampled_from(sorted(LIB.contexts)), st.floats(min_value=0, max_value=20_000, allow_nan=False))
def test_no_charted_session_total_passes_the_hard_maximum(context: str, total_mg: float) -> None:
    check = check_charted_session_total(LIB, context, total_mg=total_mg)
    hard_max = LIB.context(context).limit_set("session_total_mg").hard_max
    assert hard_max is not None
    assert (check.verdict == "hard") == (total_mg > hard_max.value * (1 + 1e-9))
    assert check.limit_kind not in ("soft_min", "hard_min")


def test_worst_verdict() -> None:
    def c(v: str) -> LimitCheck:
        return LimitCheck(v, "q", 1.0, "mg", None, None, None, None, "")  # type: ignore[arg-type]

    assert worst_verdict([]) == "ok"
    assert worst_verdict([c("ok"), c("soft"), c("ok")]) == "soft"
    assert worst_verdict([c("soft"), c("hard"), c("ok")]) == "hard"


@given(
    st.sampled_from(sorted(LIB.contexts)),
    st.floats(min_value=0, max_value=1000, allow_nan=False),
    st.floats(min_value=1, max_value=400),
)
def test_no_checked_rate_passes_a_hard_limit(context: str, rate_mg_h: float, weight: float) -> None:
    check = check_rate(LIB, context, rate_mg_h=rate_mg_h, weight_kg=weight)
    ctx = LIB.context(context)
    per_kg_max = ctx.limit_set("rate_mg_kg_h").hard_max
    abs_max = ctx.limit_set("rate_mg_h").hard_max
    assert per_kg_max is not None and abs_max is not None
    breaches = rate_mg_h / weight > per_kg_max.value * (1 + 1e-9) or rate_mg_h > abs_max.value * (1 + 1e-9)
    assert (check.verdict == "hard") == breaches


# ---------------------------------------------------------------- overrides


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_tightens(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[context.outpatient.rate_mg_kg_h]
soft_max = { value = 0.8, source = "Clinic pharmacy 2025", status = "local-policy" }
hard_max = { value = 1.5, source = "Clinic pharmacy 2025", status = "local-policy" }
[context.outpatient.concentrations_mg_ml]
values = [1.0, 2.0]
source = "Clinic pharmacy 2025"
status = "local-policy"
""",
    )
    lib = load_library(path)
    check = check_rate(lib, "outpatient", rate_mg_h=1.6 * 70, weight_kg=70)
    assert (check.verdict, check.limit, check.source) == ("hard", 1.5, "Clinic pharmacy 2025")
    assert lib.context("outpatient").allows_concentration(2.0)
    assert lib.override_path == path
    # untouched entries keep their shipped values
    assert lib.context("continuous") == LIB.context("continuous")


LP = 'source = "x", status = "local-policy" }'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[context.outpatient.rate_mg_kg_h]\nhard_max = { value = 3.0, " + LP,
            "context.outpatient.rate_mg_kg_h.hard_max: 3 loosens",
        ),
        (
            "[context.continuous.rate_mg_h]\nhard_max = { value = 60, " + LP,
            "context.continuous.rate_mg_h.hard_max: 60 loosens",
        ),
        ('[context.outpatient.rate_mg_kg_h]\nhard_max = { value = 1.0, source = "x" }', "hard_max"),
        (
            "[context.outpatient.rate_mg_kg_h]\nhard_max = { value = -1, " + LP,
            "-1",
        ),
        (
            "[context.icu.rate_mg_h]\nhard_max = { value = 10, " + LP,
            "context.icu",
        ),
        (
            "[context.outpatient.rate_mg_kg_h]\nhard_max = { value = 0.5, " + LP,
            "soft_max 1 is above hard_max 0.5",
        ),
        ('[context.outpatient]\ndrug = "s-ketamine"', "context.outpatient.drug"),
        ("[context.outpatient\n", "clinic.toml"),
    ],
)
def test_override_rejected_naming_the_entry(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(DataFileError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        load_library(_write(tmp_path, text))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    context=st.sampled_from(sorted(LIB.contexts)),
    quantity=st.sampled_from(sorted(QUANTITIES)),
    factor=st.floats(min_value=0.01, max_value=10),
)
def test_override_never_loosens_a_hard_limit(context: str, quantity: str, factor: float) -> None:
    shipped = LIB.context(context).limit_set(quantity).hard_max
    assert shipped is not None
    new = shipped.value * factor
    data = {
        "context": {
            context: {quantity: {"hard_max": {"value": new, "source": "c", "status": "local-policy"}}}
        }
    }
    try:
        lib = apply_override(LIB, data, "clinic.toml")
    except DataFileError:
        return  # refused: loosening, or soft limits left above the new hard limit
    result = lib.context(context).limit_set(quantity).hard_max
    assert result is not None and result.value <= shipped.value
