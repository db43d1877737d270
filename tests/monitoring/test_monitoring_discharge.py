"""Discharge checklist: vitals back near baseline, RASS 0, walking, escort."""

from __future__ import annotations

from ketaclinic.data import Status
from ketaclinic.monitoring import Observation, discharge_check

BASELINE = Observation(t_min=-5, sbp=120, dbp=80, hr=70, spo2=98, rass=0)
RECOVERED = Observation(t_min=100, sbp=130, dbp=84, hr=76, spo2=97, rass=0)
YES = {"able_to_walk": True, "escort_present": True}


def test_all_met_is_ok() -> None:
    result = discharge_check(BASELINE, RECOVERED, YES)
    assert result.ok
    assert result.status is Status.LOCAL_POLICY
    assert {i.key for i in result.items} == {
        "sbp",
        "dbp",
        "hr",
        "spo2",
        "rass",
        "able_to_walk",
        "escort_present",
    }


def test_vitals_at_the_margin_pass_and_beyond_fail() -> None:
    # 20 % of a 120 mmHg baseline is 24 mmHg.
    at_margin = Observation(t_min=100, sbp=144, dbp=84, hr=76, spo2=97, rass=0)
    beyond = Observation(t_min=100, sbp=145, dbp=84, hr=76, spo2=97, rass=0)
    assert discharge_check(BASELINE, at_margin, YES).ok
    result = discharge_check(BASELINE, beyond, YES)
    assert not result.ok
    assert result.unmet == ["Systolic BP back within 20 % of baseline"]


def test_spo2_drop_and_rass() -> None:
    low = Observation(t_min=100, sbp=130, dbp=84, hr=76, spo2=94, rass=0)
    assert [i.key for i in discharge_check(BASELINE, low, YES).items if not i.ok] == ["spo2"]
    drowsy = Observation(t_min=100, sbp=130, dbp=84, hr=76, spo2=97, rass=-1)
    assert [i.key for i in discharge_check(BASELINE, drowsy, YES).items if not i.ok] == ["rass"]


def test_unanswered_or_no_answers_fail() -> None:
    result = discharge_check(BASELINE, RECOVERED, {"able_to_walk": True})
    assert [i.key for i in result.items if not i.ok] == ["escort_present"]
    result = discharge_check(BASELINE, RECOVERED, {"able_to_walk": False, "escort_present": True})
    assert [i.detail for i in result.items if not i.ok] == ["no"]


def test_missing_baseline_or_reading_fails_every_vital() -> None:
    result = discharge_check(None, RECOVERED, YES)
    assert not result.ok
    assert {i.key for i in result.items if not i.ok} == {"sbp", "dbp", "hr", "spo2"}
    result = discharge_check(BASELINE, None, YES)
    assert {i.key for i in result.items if not i.ok} == {"sbp", "dbp", "hr", "spo2", "rass"}
