import pytest

from trading.engine.breaker import Breaker, day_index, week_index
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.sizing import entry_count, risk_micros
from trading.tests.engine.factories import T0

P = DEFAULT_PARAMS
DOLLAR = 1_000_000


def size(
    direction="LONG",
    conviction="NORMAL",
    price=5000,
    bankroll=1000 * DOLLAR,
    peak=None,
    live=False,
    params=P,
):
    return entry_count(
        bankroll=bankroll,
        peak=peak if peak is not None else bankroll,
        direction=direction,
        conviction=conviction,
        yes_price=price,
        live=live,
        params=params,
    )


@pytest.mark.parametrize(
    ("conviction", "count"), [("HIGH", 5200), ("NORMAL", 4000), ("LOW", 2600), ("NONE", 4000)]
)
def test_fixed_fractional_with_conviction_multipliers(conviction, count):
    assert size(conviction=conviction) == count  # $20 × mult at 50 ¢, whole contracts


def test_shorts_are_sized_on_the_no_price_they_cost():
    # $1000 × 2 % × 0.7 = $14 at a NO price of 75 ¢ → 18 contracts (the original's YES
    # divisor would have bought 56 contracts, $42 of premium: §11.1 regression).
    assert size("SHORT", price=2500) == 1800


def test_drawdown_reduction_applies_strictly_above_ten_percent():
    assert size(bankroll=900 * DOLLAR, peak=1000 * DOLLAR) == 3600  # exactly 10 %: $18
    assert size(bankroll=890 * DOLLAR, peak=1000 * DOLLAR) == 1700  # 11 %: $8.90


def test_risk_is_clamped_to_min_and_max_and_rounded_to_cents():
    low = risk_micros(
        bankroll=800 * DOLLAR, peak=1000 * DOLLAR, direction="SHORT", conviction="LOW", params=P
    )
    assert low == 4 * DOLLAR  # 0.455 % → floor 0.5 % of $800
    big = P.with_overrides({"conviction_mult_high": 2.0})
    assert (
        risk_micros(
            bankroll=1000 * DOLLAR,
            peak=1000 * DOLLAR,
            direction="LONG",
            conviction="HIGH",
            params=big,
        )
        == 30 * DOLLAR
    )
    odd = risk_micros(
        bankroll=123_456_789, peak=123_456_789, direction="LONG", conviction="NORMAL", params=P
    )
    assert odd == 2_470_000  # $2.46913578 → $2.47


def test_contract_caps_per_lane():
    assert size(conviction="HIGH", live=True) == 5000
    assert size(conviction="HIGH", params=P.with_overrides({"max_paper_contracts": 10})) == 1000


def test_it_cannot_size_without_money_or_price():
    assert size(price=0) == 0
    assert size(bankroll=0) == 0
    assert size(price=9999, bankroll=10 * DOLLAR) == 0


# --- breaker ---------------------------------------------------------------------------


def test_day_and_week_boundaries_are_utc_midnight_and_monday():
    assert day_index(T0 - 1) + 1 == day_index(T0)
    monday = T0 + 4 * 86_400_000  # 2026-01-05
    assert week_index(monday - 1) + 1 == week_index(monday)
    assert week_index(T0) == week_index(monday - 1)


@pytest.mark.parametrize(
    ("bankroll", "reason"), [(940 * DOLLAR, "DAILY_LOSS_LIMIT"), (940 * DOLLAR + 1, "")]
)
def test_daily_loss_trips_at_exactly_six_percent(bankroll, reason):
    b = Breaker.fresh(1000 * DOLLAR)
    b.apply_pnl(bankroll - b.bankroll)
    assert b.evaluate(P) == reason


def test_weekly_loss_trips_at_fifteen_percent_of_the_monday_bankroll():
    b = Breaker(850 * DOLLAR, 860 * DOLLAR, 860 * DOLLAR, 1000 * DOLLAR)
    assert b.evaluate(P) == "WEEKLY_LOSS_LIMIT"
    b.weekly_start = 999 * DOLLAR
    assert b.evaluate(P) == ""


def test_drawdown_latches_until_an_operator_resets_it():
    b = Breaker(800 * DOLLAR, 1000 * DOLLAR, 800 * DOLLAR, 800 * DOLLAR)
    assert b.evaluate(P) == "MAX_DRAWDOWN_HALT"
    b.apply_pnl(100 * DOLLAR)
    assert b.evaluate(P) == "MAX_DRAWDOWN_HALT"
    b.reset_drawdown()
    assert b.evaluate(P) == ""
    assert b.peak == b.daily_start == b.weekly_start == 900 * DOLLAR


def test_drawdown_just_under_twenty_percent_does_not_trip():
    b = Breaker(800 * DOLLAR + 1, 1000 * DOLLAR, 800 * DOLLAR, 800 * DOLLAR)
    assert b.evaluate(P) == ""


def test_the_daily_baseline_rolls_at_midnight_utc_in_event_time():
    b = Breaker.fresh(1000 * DOLLAR)
    b.roll(T0 - 86_400_000 + 1)  # Wednesday
    b.apply_pnl(-60 * DOLLAR)
    assert not b.roll(T0 - 1)  # 23:59:59.999: same day
    assert b.evaluate(P) == "DAILY_LOSS_LIMIT"
    assert b.roll(T0)  # 00:00:00.000 Thursday
    assert b.daily_start == 940 * DOLLAR
    assert b.weekly_start == 1000 * DOLLAR  # not a Monday
    assert b.evaluate(P) == ""


def test_the_weekly_baseline_rolls_on_monday():
    b = Breaker.fresh(1000 * DOLLAR)
    b.roll(T0)
    b.apply_pnl(-10 * DOLLAR)
    monday = T0 + 4 * 86_400_000
    b.roll(monday - 1)
    assert b.weekly_start == 1000 * DOLLAR
    b.roll(monday)
    assert b.weekly_start == 990 * DOLLAR


def test_paper_breakers_record_but_halt_only_when_configured():
    b = Breaker(900 * DOLLAR, 1000 * DOLLAR, 1000 * DOLLAR, 1000 * DOLLAR)
    b.evaluate(P)
    assert b.halts(live=True, params=P)
    assert not b.halts(live=False, params=P)
    assert b.halts(live=False, params=P.with_overrides({"paper_breaker_halts": True}))


def test_a_zero_baseline_never_trips():
    assert Breaker(0, 0, 0, 0).evaluate(P) == ""


def test_it_round_trips_through_plain_data():
    b = Breaker.fresh(5)
    b.roll(T0)
    assert Breaker.from_dict(b.to_dict()) == b
