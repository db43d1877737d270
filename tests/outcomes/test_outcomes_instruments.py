"""Scoring of the PRO instruments: totals, bands, validation naming the item."""

import pytest

from ketaclinic.errors import InputError
from ketaclinic.outcomes import nrs_rating, score_bpi, score_gad7, score_pgic, score_phq9
from ketaclinic.outcomes.instruments import get_questionnaire, instrument_sources


def test_phq9_total_band_and_loinc() -> None:
    assert score_phq9([3] * 9).total == 27
    assert score_phq9([3] * 9).band == "severe"
    assert score_phq9([1, 1, 1, 1, 1, 0, 0, 0, 0]).band == "mild"
    assert score_phq9([0] * 9).band == "minimal"
    s = score_phq9([2, 2, 2, 2, 2, 2, 2, 1, 0])
    assert (s.total, s.band, s.loinc) == (15, "moderately_severe", "44261-6")


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_edges(total: int, band: str) -> None:
    items = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    items += [0] * (7 - len(items))
    score = score_gad7(items)
    assert (score.total, score.band, score.loinc) == (total, band, "70274-6")


def test_questionnaire_item_out_of_range_names_the_item() -> None:
    with pytest.raises(InputError) as err:
        score_phq9([0, 0, 4, 0, 0, 0, 0, 0, 0])
    assert err.value.field == "phq9.item3"
    assert "outside 0-3" in str(err.value)
    with pytest.raises(InputError, match="needs 7"):
        score_gad7([0] * 6)
    with pytest.raises(InputError, match="whole number"):
        score_gad7([0, 0, 0, 0, 0, 0, 1.5])  # type: ignore[list-item]


def test_bands_cover_the_whole_range() -> None:
    for name, top in (("phq9", 27), ("gad7", 21)):
        q = get_questionnaire(name)
        assert q.max_total == top
        assert q.bands[0].min == 0 and q.bands[-1].max == top


def test_nrs_rating_validates_value_kind_and_recall() -> None:
    r = nrs_rating(7, kind="worst", recall="7d")
    assert (r.value, r.kind, r.recall, r.loinc) == (7.0, "worst", "7d", "72514-3")
    with pytest.raises(InputError) as err:
        nrs_rating(11)
    assert err.value.field == "nrs.now" and "11 is outside 0-10" in str(err.value)
    with pytest.raises(InputError):
        nrs_rating(5, kind="typical")
    with pytest.raises(InputError):
        nrs_rating(5, recall="30d")


def test_pgic_anchors() -> None:
    assert score_pgic(1).label == "very much improved" and score_pgic(1).improved
    assert score_pgic(2).label == "much improved" and score_pgic(2).improved
    assert not score_pgic(3).improved
    assert score_pgic(7).label == "very much worse"
    with pytest.raises(InputError, match="outside 1-7"):
        score_pgic(0)


def test_bpi_severity_and_interference_rules() -> None:
    sev = {"worst": 8, "least": 2, "average": 5, "now": 5}
    inter = {"general_activity": 6, "mood": 4, "walking_ability": 2, "normal_work": 8}
    s = score_bpi(sev, inter)
    assert s.severity == pytest.approx(5.0)
    assert s.interference == pytest.approx(5.0)
    assert s.interference_items_answered == 4
    three = {k: v for k, v in list(inter.items())[:3]}
    assert score_bpi(sev, three).interference is None
    assert score_bpi({**sev, "now": None}, inter).severity is None
    with pytest.raises(InputError) as err:
        score_bpi(sev, {**inter, "sleep": 12})
    assert err.value.field == "bpi.interference.sleep"
    with pytest.raises(InputError, match="unknown item"):
        score_bpi(sev, {"appetite": 3})


def test_every_instrument_has_a_source_and_status() -> None:
    sources = instrument_sources()
    assert set(sources) == {"nrs", "pgic", "bpi", "phq9", "gad7"}
    assert all(
        s["source"] and s["status"] in ("verified", "secondary", "local-policy") for s in sources.values()
    )
