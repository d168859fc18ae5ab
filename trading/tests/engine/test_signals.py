from collections.abc import Sequence

import pytest

from marketdata.model.candles import Candle
from trading.engine.market import MarketState
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.regime import Regime
from trading.engine.signals import Direction
from trading.engine.signals.obi import ObiTracker, obi_direction, raw_obi
from trading.engine.signals.roc import roc, roc_direction, roc_threshold
from trading.engine.signals.spread import SpreadTracker
from trading.tests.engine.factories import T0, candle

P = DEFAULT_PARAMS
VOLUME = 100_000  # 1000 contracts in hundredths: exactly MIN_BOOK_VOLUME


# --- OBI -------------------------------------------------------------------------------


def test_raw_obi_is_bid_share_and_none_for_an_empty_book():
    assert raw_obi(300, 100) == 0.75
    assert raw_obi(0, 0) is None


def test_fewer_than_min_samples_use_the_raw_value():
    tracker = ObiTracker(P)
    assert tracker.add_reading(T0, 0.9) == 0.9
    assert tracker.add_reading(T0 + 1000, 0.1) == 0.1
    assert tracker.add_reading(T0 + 2000, 0.8) == 0.8  # median of 0.9, 0.1, 0.8


def test_smoothing_is_the_median_over_the_window():
    tracker = ObiTracker(P)
    for i, value in enumerate([0.5, 0.6, 0.7, 0.6, 0.6]):
        tracker.add_reading(T0 + i * 1000, value)
    assert tracker.smoothed == 0.6


def test_the_window_widens_when_volatile_and_narrows_when_calm():
    volatile = ObiTracker(P)
    for i in range(6):
        volatile.add_reading(T0 + i * 1000, 0.1 if i % 2 else 0.9)
    assert volatile.window_s(T0 + 5000) == 7.5
    calm = ObiTracker(P)
    for i in range(6):
        calm.add_reading(T0 + i * 1000, 0.5)
    assert calm.window_s(T0 + 5000) == 3.75
    medium = ObiTracker(P)
    for i in range(6):
        medium.add_reading(T0 + i * 1000, 0.4 if i % 2 else 0.6)
    assert medium.window_s(T0 + 5000) == 5.0
    few = ObiTracker(P)
    few.add_reading(T0, 0.5)
    assert few.window_s(T0) == 5.0


def test_old_raw_readings_leave_the_window():
    tracker = ObiTracker(P)
    tracker.add_reading(T0, 0.9)
    tracker.add_reading(T0 + 61_000, 0.1)
    assert tracker.raw_readings() == [(T0 + 61_000, 0.1)]


def test_history_is_bounded_and_reset_by_a_new_contract():
    tracker = ObiTracker(P)
    for i in range(25):
        tracker.add_reading(T0 + i * 1000, 0.5)
    assert len(tracker.history) == 20
    tracker.reset("B")
    assert tracker.smoothed is None
    assert tracker.ticker == "B"


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([0.65, 0.65, 0.65], "LONG"),
        ([0.6499, 0.65, 0.65], None),
        ([0.35, 0.35, 0.35], "SHORT"),
        ([0.35, 0.35, 0.3501], None),
        ([0.9, 0.9], None),  # fewer than 3 readings
        ([0.1, 0.9, 0.9, 0.9], "LONG"),  # only the last 3 count
    ],
)
def test_obi_direction_thresholds_and_consecutive_readings(history, expected):
    assert obi_direction(history, VOLUME, holding=False, regime="MEDIUM", params=P) == expected


def test_obi_needs_minimum_book_volume_and_no_position_and_no_high_regime():
    h = [0.9, 0.9, 0.9]
    assert obi_direction(h, VOLUME - 1, holding=False, regime="LOW", params=P) is None
    assert obi_direction(h, VOLUME, holding=False, regime="LOW", params=P) == "LONG"
    assert obi_direction(h, VOLUME, holding=True, regime="LOW", params=P) is None
    assert obi_direction(h, VOLUME, holding=False, regime="HIGH", params=P) is None


# --- ROC -------------------------------------------------------------------------------


def up(close_from, close_to):
    return candle(close_from, max(close_from, close_to), min(close_from, close_to), close_to)


def test_roc_needs_lookback_plus_one_closes():
    assert roc([100, 101, 102], 3) is None
    assert roc([100, 101, 102, 110], 3) == pytest.approx(10.0)
    assert roc([0, 1, 1, 1], 3) is None


@pytest.mark.parametrize(("atr", "expected"), [(None, 0.4), (0.05, 0.10), (0.5, 0.6), (2.0, 1.0)])
def test_the_threshold_scales_with_atr_and_is_clamped(atr, expected):
    long_thr, short_thr = roc_threshold(atr, P)
    assert long_thr == pytest.approx(expected)
    assert short_thr == pytest.approx(-expected)


def test_roc_long_at_the_threshold_and_not_below():
    # 4 candles, ROC over the last 3 opens→closes: closes 100, 100.2, 100.3, 100.4
    candles = [candle(100, 100, 100, 100), up(100, 100.2), up(100.2, 100.3), up(100.3, 100.4)]
    assert (
        roc_direction(candles, atr_pct=None, regime="MEDIUM", holding=False, obi=None, params=P)
        == "LONG"
    )
    below = [candle(100, 100, 100, 100), up(100, 100.2), up(100.2, 100.3), up(100.3, 100.39)]
    assert (
        roc_direction(below, atr_pct=None, regime="MEDIUM", holding=False, obi=None, params=P)
        is None
    )


def direction(
    candles: Sequence[Candle],
    *,
    regime: Regime = "MEDIUM",
    holding: bool = False,
    obi: Direction | None = None,
) -> Direction | None:
    """``roc_direction`` without ATR (static thresholds) and with the default parameters."""
    return roc_direction(candles, atr_pct=None, regime=regime, holding=holding, obi=obi, params=P)


def test_roc_short_needs_obi_not_long_and_long_needs_obi_not_short():
    rising = [candle(100, 100, 100, 100), up(100, 100.5), up(100.5, 100.8), up(100.8, 101)]
    falling = [candle(101, 101, 101, 101), up(101, 100.5), up(100.5, 100.2), up(100.2, 100)]
    assert direction(rising, obi="SHORT") is None
    assert direction(falling, obi=None) == "SHORT"
    assert direction(falling, obi="LONG") is None


def test_roc_beyond_the_caps_is_a_blowoff_and_ignored():
    at_cap = [candle(100, 100, 100, 100), up(100, 101), up(101, 102), up(102, 102.5)]
    assert direction(at_cap) == "LONG"
    over = [candle(100, 100, 100, 100), up(100, 101), up(101, 102), up(102, 102.51)]
    assert direction(over) is None


def test_roc_candle_confirmation_two_of_three_outside_medium():
    one_green = [candle(100, 100, 100, 100), up(100, 100.7), up(100.8, 100.5), up(100.6, 100.5)]
    # ROC = +0.5 %, but only one of the last 3 candles is green
    assert direction(one_green, regime="MEDIUM") == "LONG"  # MEDIUM lowers to 1
    assert direction(one_green, regime="HIGH") is None
    two_green = [candle(100, 100, 100, 100), up(100, 100.7), up(100.8, 100.4), up(100.4, 100.5)]
    assert direction(two_green, regime="HIGH") == "LONG"


def test_roc_is_neutral_in_low_regime_or_while_holding():
    rising = [candle(100, 100, 100, 100), up(100, 100.5), up(100.5, 100.8), up(100.8, 101)]
    assert direction(rising, regime="LOW", holding=False) is None
    assert direction(rising, regime="MEDIUM", holding=True) is None


def test_the_markets_roc_signal_is_refreshed_by_a_candle_close_and_read_with_a_lanes_thresholds():
    # The market computes ROC per candle close, not per second: a stale value would trade.
    market = MarketState(P)
    rising = [candle(100, 100, 100, 100), up(100, 100.5), up(100.5, 100.8), up(100.8, 101)]
    for bar in rising[:3]:
        market.candles.closed.append(bar)
        market.on_candle_closed()
    assert (market.roc_direction(None, P), market.current_roc) == (None, None)
    market.candles.closed.append(rising[3])
    market.on_candle_closed()
    assert market.current_roc == pytest.approx(1.0)
    directions = [market.roc_direction(obi, P) for obi in (None, "LONG", "SHORT")]
    assert directions == ["LONG"] * 2 + [None]
    assert market.roc_direction(None, P.with_overrides({"roc_long_threshold": 2.0})) is None
    assert market.roc_direction(None, P) == "LONG"  # another lane's thresholds: its own


# --- spread divergence -----------------------------------------------------------------


def spread_tracker(n=20, value=100):
    tracker = SpreadTracker(P)
    for i in range(n):
        tracker.add_reading(T0 + i * 1000, value)
    return tracker


@pytest.mark.parametrize(
    ("current", "expected"),
    [(140, "WIDE"), (139, "NORMAL"), (80, "TIGHT"), (81, "NORMAL")],
)
def test_spread_state_at_its_thresholds(current, expected):
    assert spread_tracker().state(T0 + 20_000, current, "MEDIUM") == expected


def test_spread_needs_history_medium_regime_and_a_current_spread():
    now = T0 + 20_000
    assert spread_tracker(19).state(now, 200, "MEDIUM") == "NORMAL"
    assert spread_tracker().state(now, 200, "LOW") == "NORMAL"
    assert spread_tracker().state(now, None, "MEDIUM") == "NORMAL"


def test_spread_history_goes_stale_after_90_seconds():
    tracker = spread_tracker()
    assert tracker.state(T0 + 19_000 + 89_999, 200, "MEDIUM") == "WIDE"
    assert tracker.state(T0 + 19_000 + 90_000, 200, "MEDIUM") == "NORMAL"
    tracker.add_reading(T0 + 19_000 + 90_000, 100)
    assert list(tracker.history) == [100]


def test_empty_or_crossed_spreads_are_not_readings():
    tracker = SpreadTracker(P)
    tracker.add_reading(T0, None)
    tracker.add_reading(T0, 0)
    assert not tracker.history
