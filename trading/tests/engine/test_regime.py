import pytest

from trading.engine.params import DEFAULT_PARAMS
from trading.engine.regime import RegimeTracker
from trading.tests.engine.factories import candle


def feed_flat(tracker, n, close=100.0, rng=0.3):
    """n candles with TR = rng on a flat close: ATR% = rng / close × 100."""
    changes = []
    for _ in range(n):
        changes.append(tracker.on_candle(candle(close, close + rng / 2, close - rng / 2, close)))
    return changes


def test_it_needs_a_full_atr_period_of_true_ranges():
    tracker = RegimeTracker(DEFAULT_PARAMS)
    feed_flat(tracker, 14)  # the first candle only seeds the previous close: 13 TRs
    assert tracker.atr_pct is None
    feed_flat(tracker, 1)
    assert tracker.atr_pct == pytest.approx(0.3)


def test_true_range_uses_the_previous_close():
    tracker = RegimeTracker(DEFAULT_PARAMS.with_overrides({"atr_period": 2}))
    tracker.on_candle(candle(100, 100, 100, 100))
    tracker.on_candle(candle(101, 102, 101, 101))  # gap up: TR = 102 − 100 = 2
    tracker.on_candle(candle(101, 101, 98, 99))  # gap down: TR = 101 − 98 = 3
    assert tracker.atr_pct == pytest.approx(2.5 / 99 * 100)


@pytest.mark.parametrize(
    ("smoothed", "expected"),
    [(0.1499, "LOW"), (0.15, "MEDIUM"), (0.50, "MEDIUM"), (0.5001, "HIGH")],
)
def test_classification_boundaries(smoothed, expected):
    assert RegimeTracker(DEFAULT_PARAMS).classify(smoothed) == expected


def test_it_switches_only_after_the_confirmation_bars_agree():
    tracker = RegimeTracker(DEFAULT_PARAMS)
    assert tracker.regime == "MEDIUM"
    changes = feed_flat(tracker, 15, rng=0.1)  # ATR% 0.1 → LOW, first raw class at candle 15
    assert tracker.regime == "MEDIUM"  # one LOW reading is not enough
    changes = feed_flat(tracker, 1, rng=0.1)
    assert changes == ["LOW"]
    assert tracker.regime == "LOW"


def test_a_single_disagreeing_bar_does_not_flip_the_regime():
    tracker = RegimeTracker(
        DEFAULT_PARAMS.with_overrides({"atr_period": 2, "atr_smooth_period": 1})
    )
    feed_flat(tracker, 4, rng=0.1)
    assert tracker.regime == "LOW"
    feed_flat(tracker, 1, rng=0.25)  # ATR% (0.1 + 0.25) / 2 = 0.175: MEDIUM once
    assert tracker.regime == "LOW"
    feed_flat(tracker, 1, rng=0.02)  # (0.25 + 0.02) / 2 = 0.135: LOW again
    assert tracker.regime == "LOW"
