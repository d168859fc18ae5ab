import dataclasses
from typing import Any

import pytest

from marketdata.model.candles import Candle
from trading.engine.exits import ExitInputs, ExitThresholds, settlement_window_exit, strategy_exit
from trading.engine.health import (
    HealthInputs,
    health_score,
    mfe_retention,
    momentum_decay,
    obi_alignment,
    regime_stability,
    roc_alignment,
)
from trading.engine.params import DEFAULT_PARAMS
from trading.tests.engine.factories import T0

P = DEFAULT_PARAMS
TH = ExitThresholds.of(P)
COST = 50_000_000  # 100 contracts at 50 ¢
HOLD = 120_000


def long_gain(mark):
    return mark * 10_000 - COST


def short_gain(yes_mark):
    return (10_000 - yes_mark) * 10_000 - COST


def exit_candle(o, c, h=None, low=None):
    """A completed 180 s exit candle (start time is irrelevant to the rules)."""
    high = max(o, c) if h is None else h
    return Candle(T0, 180, o, high, min(o, c) if low is None else low, c, 0.0, 10)


BASE_INPUTS = ExitInputs(
    direction="LONG",
    held_ms=HOLD,
    regime="MEDIUM",
    gain=0,
    cost=COST,
    obi=0.7,
    hold_candles=(),
    current_roc=None,
    entry_roc=None,
)


def inputs(**kw: Any) -> ExitInputs:
    return dataclasses.replace(BASE_INPUTS, **kw)


def reason(**kw):
    return strategy_exit(inputs(**kw), TH, P)


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        (4900, "STOP_LOSS"),
        (4899, "STOP_LOSS"),
        (4901, ""),
        (5150, "TAKE_PROFIT"),
        (5149, ""),
        (5151, "TAKE_PROFIT"),
    ],
)
def test_long_stop_and_target_on_the_premium(mark, expected):
    assert reason(gain=long_gain(mark)) == expected


@pytest.mark.parametrize(
    ("bid", "ask", "expected"),
    [(4800, 5000, "STOP_LOSS"), (4799, 5000, "STOP_LOSS"), (4801, 5000, "")],
)
def test_the_stop_is_exact_on_a_mid_between_two_price_units(bid, ask, expected):
    """Half a price unit either side of −2 % decides (the watch passes both doubled)."""
    doubled_gain = (bid + ask) * 10_000 - 2 * COST
    assert reason(gain=doubled_gain, cost=2 * COST) == expected


@pytest.mark.parametrize(
    ("ask", "expected"), [(5150, "STOP_LOSS"), (5149, ""), (4775, "TAKE_PROFIT"), (4776, "")]
)
def test_short_stop_and_target_on_the_no_premium(ask, expected):
    assert reason(direction="SHORT", obi=0.3, gain=short_gain(ask)) == expected


def test_no_strategy_exit_before_min_hold_unless_regime_high():
    assert reason(held_ms=HOLD - 1, gain=long_gain(4000)) == ""
    assert reason(held_ms=HOLD, gain=long_gain(4000)) == "STOP_LOSS"
    assert reason(held_ms=0, regime="HIGH", gain=long_gain(4000)) == "STOP_LOSS"


def test_without_a_mark_there_is_no_stop_or_target_but_time_still_counts():
    assert reason(gain=None) == ""
    assert reason(gain=None, held_ms=360_000) == "TIME_EXIT"
    # Early decay-style exits need a loss on the mark; with none known they wait.
    assert reason(gain=None, held_ms=0, regime="HIGH", obi=0.5) == ""
    assert reason(gain=None, obi=0.5) == "SIGNAL_DECAY"


@pytest.mark.parametrize(
    ("direction", "obi", "expected"),
    [
        ("LONG", 0.5499, "SIGNAL_DECAY"),
        ("LONG", 0.55, ""),
        ("SHORT", 0.4501, "SIGNAL_DECAY"),
        ("SHORT", 0.45, ""),
    ],
)
def test_signal_decay_through_the_neutral_band(direction, obi, expected):
    assert reason(direction=direction, obi=obi) == expected


def test_signal_decay_early_needs_a_loss():
    assert reason(held_ms=0, regime="HIGH", obi=0.5, gain=-1) == "SIGNAL_DECAY"
    assert reason(held_ms=0, regime="HIGH", obi=0.5, gain=0) == ""
    assert reason(held_ms=0, regime="HIGH", obi=None, gain=-1) == ""


def test_the_spike_threshold_is_the_high_atr_scaled_by_root_time():
    assert TH.spike_range_pct == pytest.approx(0.5 * (180 / 900) ** 0.5)  # ≈ 0.2236 %
    p = P.with_overrides({"exit_candle_s": 900, "atr_high_threshold": 0.8})
    assert ExitThresholds.of(p).spike_range_pct == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("high", "expected"), [(100.224, "VOLATILITY_SPIKE"), (100.2236, ""), (100.2, "")]
)
def test_volatility_spike_on_an_exit_candles_range(high, expected):
    calm = exit_candle(100, 100.05)
    wild = exit_candle(100, 100.1, h=high, low=100)
    assert reason(hold_candles=(calm, wild)) == expected
    assert reason(hold_candles=(wild, calm)) == expected  # any candle of the hold
    assert reason(regime="HIGH") == ""  # the 15-minute regime alone no longer exits


def test_the_regime_still_lifts_the_min_hold_gate():
    wild = exit_candle(100, 100, h=100.3, low=100)
    assert reason(held_ms=0, hold_candles=(wild,)) == ""
    assert reason(held_ms=0, regime="HIGH", hold_candles=(wild,)) == "VOLATILITY_SPIKE"


@pytest.mark.parametrize(("held", "expected"), [(359_999, ""), (360_000, "TIME_EXIT")])
def test_roc_time_exit(held, expected):
    assert reason(held_ms=held) == expected


@pytest.mark.parametrize(("held", "expected"), [(539_999, ""), (540_000, "TIME_EXIT")])
def test_obi_time_exit(held, expected):
    p = P.with_overrides({"roc_max_hold_s": 3600})
    assert strategy_exit(inputs(held_ms=held), TH, p) == expected


@pytest.mark.parametrize(
    ("close", "gain", "expected"),
    [(101.5, 1, "BLOWOFF_TAKE_PROFIT"), (101.49, 1, ""), (101.5, 0, "")],
)
def test_blowoff_take_profit(close, gain, expected):
    # the body counts, not the range: a 1.5 % candle is also far past the spike threshold
    no_spike = P.with_overrides({"atr_high_threshold": 10.0})
    last = exit_candle(100, close)
    thresholds = ExitThresholds.of(no_spike)
    assert strategy_exit(inputs(gain=gain, hold_candles=(last,)), thresholds, no_spike) == expected


FLAT = (exit_candle(100, 100),) * 3


@pytest.mark.parametrize(
    ("current", "expected"),
    [(0.49, "MOMENTUM_STALL"), (-0.49, "MOMENTUM_STALL"), (0.5, ""), (None, "")],
)
def test_momentum_stall(current, expected):
    assert reason(entry_roc=1.0, current_roc=current, hold_candles=FLAT) == expected


def test_momentum_stall_needs_three_candles_of_the_hold_an_entry_roc_and_early_exit():
    assert reason(entry_roc=1.0, current_roc=0.0, hold_candles=FLAT[:2]) == ""
    assert reason(entry_roc=0.0, current_roc=0.0, hold_candles=FLAT) == ""
    assert reason(entry_roc=None, current_roc=0.0, hold_candles=FLAT) == ""
    early = {"held_ms": 0, "regime": "HIGH", "gain": 0, "hold_candles": FLAT}
    assert reason(entry_roc=1.0, current_roc=0.1, **early) == ""
    assert reason(entry_roc=1.0, current_roc=0.1, **{**early, "gain": -1}) == "MOMENTUM_STALL"


@pytest.mark.parametrize(
    ("direction", "obi", "o", "c", "expected"),
    [
        ("LONG", 0.7, 100, 99.9, "CANDLE_REVERSAL"),
        ("LONG", 0.7, 100, 100.1, ""),
        ("SHORT", 0.3, 100, 100.1, "CANDLE_REVERSAL"),
        ("SHORT", 0.3, 100, 99.9, ""),
    ],
)
def test_candle_reversal(direction, obi, o, c, expected):
    older = exit_candle(o, 2 * o - c)  # the other way: only the latest candle counts
    last = exit_candle(o, c)
    assert reason(direction=direction, obi=obi, hold_candles=(older, last)) == expected
    assert reason(direction=direction, obi=obi, hold_candles=()) == ""


def sw(direction="SHORT", remaining=200_000, underwater=True):
    return settlement_window_exit(
        direction=direction, remaining_ms=remaining, underwater=underwater, params=P
    )


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (59_000, "EXPIRY_GUARD"),
        (59_999, "EXPIRY_GUARD"),
        (60_000, "SHORT_SETTLEMENT_GUARD"),
        (61_000, "SHORT_SETTLEMENT_GUARD"),
        (299_000, "SHORT_SETTLEMENT_GUARD"),
        (299_999, "SHORT_SETTLEMENT_GUARD"),
        (300_000, ""),
        (301_000, ""),
    ],
)
def test_short_settlement_guard_window(remaining, expected):
    assert sw(remaining=remaining) == expected


def test_short_settlement_guard_only_for_underwater_shorts():
    assert sw(underwater=False) == ""
    assert sw(direction="LONG") == ""


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (None, "EXPIRY_GUARD"),
        (179_000, "EXPIRY_GUARD"),
        (179_999, "EXPIRY_GUARD"),
        (180_000, ""),
        (181_000, ""),
    ],
)
def test_expiry_guard(remaining, expected):
    assert sw(direction="LONG", remaining=remaining) == expected


# --- health score ----------------------------------------------------------------------


def test_health_components():
    assert obi_alignment("LONG", 0.75) == 1.0
    assert obi_alignment("SHORT", 0.375) == 0.5
    assert obi_alignment("LONG", None) == 0.5
    assert roc_alignment("LONG", 1.0, None) == 0.5
    assert roc_alignment("LONG", 1.0, 0.0) == 0.4
    assert roc_alignment("LONG", 1.0, -0.5) == 0.0
    assert roc_alignment("SHORT", 0.0, -0.01) == 1.0
    assert [roc_alignment("LONG", 1.0, v) for v in (1.0, 0.6, 0.3, 0.29)] == [1.0, 0.75, 0.5, 0.35]
    assert roc_alignment("LONG", -1.0, -1.0) == 1.0
    assert regime_stability(None, "LOW") == 0.5
    assert regime_stability("HIGH", "HIGH") == 0.0
    assert regime_stability("LOW", "LOW") == 1.0
    assert regime_stability("MEDIUM", "LOW") == 0.75
    assert regime_stability("LOW", "MEDIUM") == 0.65
    assert mfe_retention(None, 0.1) == 0.5
    assert mfe_retention(0.0, -0.01) == 0.25
    assert mfe_retention(0.0, 0.0) == 0.6
    assert mfe_retention(0.04, 0.02) == 0.5
    assert mfe_retention(0.04, -0.02) == 0.0
    assert mfe_retention(0.04, 0.04) == 1.0


@pytest.mark.parametrize(
    ("fast", "slow", "expected"),
    [
        (None, None, 0.5),
        (-1, -1, 0.0),
        (1, -1, 0.65),
        (-1, 1, 0.2),
        (2, 1, 1.0),
        (0.7, 1, 0.75),
        (0.4, 1, 0.45),
        (0.39, 1, 0.2),
        (1, None, 1.0),
        (None, 1, 1.0),
    ],
)
def test_momentum_decay(fast, slow, expected):
    assert momentum_decay("LONG", fast, slow) == expected


def test_momentum_decay_flips_for_shorts():
    assert momentum_decay("SHORT", -2, -1) == 1.0


def test_the_health_score_is_a_weighted_mean():
    perfect = HealthInputs("LONG", 0.75, 1.0, 1.0, "LOW", "LOW", 0.02, 0.02, 2.0, 1.0)
    assert health_score(perfect, P) == pytest.approx(100.0)
    broken = HealthInputs("LONG", 0.3, 1.0, -1.0, "HIGH", "LOW", 0.0, -0.01, -1.0, -1.0)
    assert health_score(broken, P) == pytest.approx(100 * 0.20 * 0.25)
    no_weights = P.with_overrides(
        {
            k: -0.1
            for k in (
                "health_weight_obi",
                "health_weight_roc",
                "health_weight_regime",
                "health_weight_mfe",
                "health_weight_momentum",
            )
        }
    )
    assert health_score(perfect, no_weights) == 50.0
