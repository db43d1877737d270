"""The pure ledger: NDC and DEA number checks, schedules by jurisdiction, balances, reconciliation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.ledger import (
    CountMethod,
    Entry,
    EntryKind,
    NegativeBalanceError,
    StockKey,
    check_concentration,
    check_dea_registration,
    count_differences,
    count_method,
    fold_balances,
    load_jurisdiction,
    load_ledger_policy,
    make_product,
    parse_ndc,
    prepared_concentration_mg_ml,
    reconcile,
    stock_delta_ul,
)

KEY = StockKey(1, "L1", 1)


@pytest.mark.parametrize(
    ("printed", "eleven"),
    [
        ("1234-5678-90", "01234-5678-90"),  # 4-4-2
        ("12345-678-90", "12345-0678-90"),  # 5-3-2
        ("12345-6789-0", "12345-6789-00"),  # 5-4-1
        ("12345-6789-01", "12345-6789-01"),  # 5-4-2
    ],
)
def test_each_ndc_layout_reads_as_its_eleven_digit_form(printed: str, eleven: str) -> None:
    assert parse_ndc(printed).eleven_digit == eleven


@pytest.mark.parametrize(
    "bad", ["1234567890", "234-5678-90", "1234-5678-9A", "12345-67890-1", "1234--90", ""]
)
def test_a_malformed_ndc_names_the_field(bad: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_ndc(bad)
    assert refused.value.field == "ndc"


def test_a_dea_registration_number_needs_its_check_digit() -> None:
    # 1+3+5 = 9, 2*(2+4+6) = 24, 33: the check digit is 3.
    assert check_dea_registration("ab1234563") == "AB1234563"
    with pytest.raises(InputError, match="check digit"):
        check_dea_registration("AB1234564")
    with pytest.raises(InputError, match="two letters"):
        check_dea_registration("A12345678")


def test_a_product_refuses_a_drug_the_ledger_does_not_keep() -> None:
    with pytest.raises(InputError) as refused:
        make_product("propofol", "injection_solution", 10, 20, "1234-5678-90")
    assert refused.value.field == "drug"
    vial = make_product("Ketamine", "injection_solution", 50, 10, "1234-5678-90")
    assert vial.container_mg == 500 and vial.container_ul == 10_000 and vial.mg_of(2_500) == 125


def test_schedules_by_jurisdiction_with_their_sources() -> None:
    us, uk = load_jurisdiction("us-federal"), load_jurisdiction("uk")
    assert (us.schedule_of("ketamine").schedule, us.schedule_of("midazolam").schedule) == ("CIII", "CIV")
    assert (uk.schedule_of("ketamine").schedule, uk.schedule_of("midazolam").schedule) == ("2", "3")
    assert "1308.13" in us.schedule_of("ketamine").source
    assert us.retention_years == 2 and "1304.04" in us.retention_source


def test_opened_schedule_iii_containers_may_be_estimated_unless_exact_counts_are_asked() -> None:
    us, uk = load_jurisdiction("us-federal").inventory, load_jurisdiction("uk").inventory
    assert count_method(us, "CIII", opened=True, units_per_container=None) is CountMethod.ESTIMATED
    assert count_method(us, "CIII", opened=True, units_per_container=1001) is CountMethod.EXACT
    assert count_method(us, "CII", opened=True, units_per_container=None) is CountMethod.EXACT
    assert count_method(us, "CIII", opened=False, units_per_container=None) is CountMethod.SEALED
    assert count_method(uk, "2", opened=True, units_per_container=None) is CountMethod.EXACT


def test_the_shipped_policy_is_witnessed_double_checked_and_gates_signing() -> None:
    policy = load_ledger_policy()
    assert policy.witness_required and policy.double_check_required and policy.reconcile_before_signing
    assert policy.sources["tolerance_mg"].status.value == "local-policy"


def test_a_draw_below_zero_is_refused_naming_the_entry() -> None:
    entries = [Entry(1, EntryKind.RECEIPT, KEY, 10_000), Entry(2, EntryKind.DRAW, KEY, 10_001)]
    with pytest.raises(NegativeBalanceError) as refused:
        fold_balances(entries)
    assert refused.value.seq == 2 and refused.value.balance_ul == -1


def test_a_correction_reverses_its_entry_once_with_a_reason() -> None:
    receipt = Entry(1, EntryKind.RECEIPT, KEY, 10_000)
    draw = Entry(2, EntryKind.DRAW, KEY, 4_000)
    fix = Entry(3, EntryKind.CORRECTION, KEY, 0, reverses_seq=2, reason="drawn from the wrong lot")
    assert fold_balances([receipt, draw, fix]) == {KEY: 10_000}
    with pytest.raises(ConflictError, match="already reversed"):
        fold_balances(
            [receipt, draw, fix, Entry(4, EntryKind.CORRECTION, KEY, 0, reverses_seq=2, reason="again")]
        )
    with pytest.raises(InputError) as no_reason:
        fold_balances([receipt, Entry(2, EntryKind.CORRECTION, KEY, 0, reverses_seq=1)])
    assert no_reason.value.field == "reason"
    # Reversing the receipt after the draw would leave -4 mL.
    with pytest.raises(NegativeBalanceError):
        fold_balances([receipt, draw, Entry(3, EntryKind.CORRECTION, KEY, 0, reverses_seq=1, reason="x")])


def test_administration_and_waste_move_no_stock() -> None:
    earlier = {1: Entry(1, EntryKind.RECEIPT, KEY, 10_000)}
    assert stock_delta_ul(Entry(2, EntryKind.ADMINISTRATION, KEY, 1_000), earlier) == 0
    assert stock_delta_ul(Entry(3, EntryKind.WASTE, KEY, 1_000), earlier) == 0


def test_reconciliation_from_published_style_numbers() -> None:
    # 100 mg drawn into 100 mL (1 mg/mL); 98 mg charted (24.5 mg/h for 240 min); 2 mL left and wasted.
    assert prepared_concentration_mg_ml(100, 100) == 1.0
    check_concentration(1.0, 1.0)
    with pytest.raises(ConflictError):
        check_concentration(2.0, 1.0)
    result = reconcile(100, 98, 2, tolerance_mg=0.5)
    assert result.discrepancy_mg == 0 and result.within_tolerance and result.expected_waste_mg == 2
    short = reconcile(100, 98, 1, tolerance_mg=0.5)
    assert short.discrepancy_mg == 1 and not short.within_tolerance


def test_count_differences_name_every_key_that_disagrees() -> None:
    other = StockKey(1, "L2", 1)
    found = count_differences({KEY: 10_000, other: 5_000}, {KEY: 9_000})
    assert [(d.key, d.difference_ul) for d in found] == [(KEY, -1_000), (other, -5_000)]


# ---- property: random receipts, draws, wastes, returns and corrections


KEYS = [StockKey(p, lot, loc) for p in (1, 2) for lot in ("A", "B") for loc in (1, 2)]
moves = st.lists(
    st.tuples(
        st.sampled_from(
            [
                EntryKind.RECEIPT,
                EntryKind.DRAW,
                EntryKind.WASTE,
                EntryKind.RETURN,
                EntryKind.DESTRUCTION,
                EntryKind.LOSS,
                EntryKind.ADJUSTMENT,
                EntryKind.CORRECTION,
            ]
        ),
        st.sampled_from(KEYS),
        st.integers(min_value=-20_000, max_value=20_000),
        st.integers(min_value=0, max_value=10_000),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(moves)
def test_a_balance_never_goes_negative_and_is_the_sum_of_its_entries(
    moves_: list[tuple[EntryKind, StockKey, int, int]],
) -> None:
    """Apply each move the way a service does (refused ones are not written); the books then hold."""
    accepted: list[Entry] = []
    reversed_seqs: set[int] = set()
    for kind, key, amount, pick in moves_:
        seq = len(accepted) + 1
        if kind is EntryKind.CORRECTION:
            candidates = [
                e for e in accepted if e.kind is not EntryKind.CORRECTION and e.seq not in reversed_seqs
            ]
            if not candidates:
                continue
            target = candidates[pick % len(candidates)]
            entry = Entry(seq, kind, target.key, 0, reverses_seq=target.seq, reason="entered in error")
        elif kind is EntryKind.ADJUSTMENT:
            entry = Entry(seq, kind, key, amount or 1, reason="count difference")
        else:
            entry = Entry(seq, kind, key, abs(amount) or 1)
        try:
            fold_balances([*accepted, entry])
        except NegativeBalanceError:
            continue
        accepted.append(entry)
        if entry.reverses_seq is not None:
            reversed_seqs.add(entry.reverses_seq)
    balances = fold_balances(accepted)
    assert all(b >= 0 for b in balances.values())
    by_seq = {e.seq: e for e in accepted}
    for key in KEYS:
        assert balances.get(key, 0) == sum(stock_delta_ul(e, by_seq) for e in accepted if e.key == key)
