from fractions import Fraction

import pytest

from marketdata.model.fees import (
    OrderFeeAccumulator,
    UnknownFeeType,
    fee_for_fill,
    order_fee,
    raw_fee_cents,
)


def test_hundred_contracts_at_fifty_cents_cost_175_cents():
    assert raw_fee_cents(5000, 10_000, is_taker=True) == 175
    assert order_fee(5000, 10_000) == 1_750_000  # micro-dollars


def test_the_float_trap_is_not_rounded_up_a_cent():
    # 0.07 * 100 * 0.5 * 0.5 == 1.7500000000000002 in floats; exact must be 175 cents flat
    assert 0.07 * 100 * 0.5 * 0.5 > 1.75
    assert order_fee(5000, 10_000) == 175 * 10_000


def test_single_contract_rounds_up_to_a_cent():
    # 0.07 * 1 * 0.5 * 0.5 = 1.75 cents → 2 cents
    assert order_fee(5000, 100) == 20_000
    # at $0.01: 0.07 * 0.01 * 0.99 = 0.0693 cents → 1 cent
    assert order_fee(100, 100) == 10_000


def test_zero_and_one_dollar_prices_cost_nothing():
    assert order_fee(0, 10_000) == 0
    assert order_fee(10_000, 10_000) == 0
    assert order_fee(5000, 0) == 0


def test_rounding_is_per_order_not_per_fill():
    acc = OrderFeeAccumulator()
    fees = [acc.charge(5000, 100, is_taker=True) for _ in range(4)]
    # cumulative raw 1.75, 3.5, 5.25, 7 cents → charged 2, 2, 2, 1
    assert fees == [20_000, 20_000, 20_000, 10_000]
    assert acc.total_micros == 70_000
    assert acc.total_micros == order_fee(5000, 400)


def test_stateless_fee_for_fill_matches_the_accumulator():
    fee1, cum = fee_for_fill(Fraction(0), 4200, 300, is_taker=True)
    fee2, cum = fee_for_fill(cum, 4300, 700, is_taker=True)
    assert fee1 + fee2 == 10_000 * -(-cum // 1)


def test_makers_pay_nothing_on_quadratic_and_a_quarter_with_maker_fees():
    assert order_fee(5000, 10_000, is_taker=False, fee_type="quadratic") == 0
    assert raw_fee_cents(
        5000, 10_000, is_taker=False, fee_type="quadratic_with_maker_fees"
    ) == Fraction(175, 4)
    assert order_fee(5000, 10_000, is_taker=False, fee_type="quadratic_with_maker_fees") == 440_000


def test_multiplier_scales_exactly():
    assert raw_fee_cents(5000, 10_000, is_taker=True, multiplier=Fraction(1, 2)) == Fraction(175, 2)
    assert order_fee(5000, 10_000, multiplier=Fraction(0)) == 0


def test_unknown_fee_type_and_bad_inputs_raise():
    with pytest.raises(UnknownFeeType):
        raw_fee_cents(5000, 100, is_taker=True, fee_type="flat")
    with pytest.raises(ValueError):
        raw_fee_cents(10_001, 100, is_taker=True)
    with pytest.raises(ValueError):
        raw_fee_cents(5000, -1, is_taker=True)
