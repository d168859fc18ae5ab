"""The entry feature vector (domain.md §7.1): the 18 names, their definitions at the
boundaries, and that a real stream fills every one of them at some entry."""

from __future__ import annotations

from typing import Any

import pytest

from marketdata.model.book import OrderBook
from marketdata.sim.stream import generate_events
from trading.engine.engine import Engine
from trading.engine.features import FEATURE_NAMES, OUTCOME_COLUMNS, entry_features
from trading.engine.params import Params
from trading.engine.records import FeaturesCaptured
from trading.tests.engine.factories import T0, candle, of, replay


def book(yes: tuple[tuple[int, int], ...], no: tuple[tuple[int, int], ...]) -> OrderBook:
    b = OrderBook("KXBTC15M-T")
    b.apply_snapshot(yes, no)
    return b


def features(**overrides: Any) -> dict[str, float | int | None]:
    kwargs: dict[str, Any] = {
        "now": T0,
        "book": book(((4800, 150_000),), ((5000, 50_000),)),
        "candles": [candle(100, 110, 90, 105, ticks=t) for t in (10, 20, 30)],
        "obi_raw": 0.123456,
        "atr_pct": 0.4,
        "remaining_ms": 90_500,
    }
    kwargs.update(overrides)
    return entry_features(**kwargs)


def test_the_eighteen_features_in_the_model_order_and_no_outcome_among_them():
    assert len(FEATURE_NAMES) == 18
    assert tuple(features()) == FEATURE_NAMES
    assert not OUTCOME_COLUMNS & set(FEATURE_NAMES)
    assert "recent_trade_count_60s" not in FEATURE_NAMES  # renamed to what it is


def test_definitions_at_an_ordinary_entry():
    f = features()
    assert f["obi"] == 0.1235  # raw, 4 dp
    assert (f["bid_depth"], f["ask_depth"]) == (150_000, 50_000)
    assert f["spread_pct"] == pytest.approx(200 / 4900)
    assert f["quoted_spread_at_entry_bps"] == round(200 / 4900 * 10_000)
    assert f["book_thickness_at_offer"] == 200_000  # both sides within ±5 ¢ of 49 ¢
    assert f["green_candles_3"] == 3
    assert f["candle_body_pct"] == pytest.approx(5 / 20)
    assert f["volume_ratio"] == pytest.approx(30 / 15)  # last / mean of the prior ones
    assert f["last_candle_tick_count"] == 30
    assert f["time_remaining_sec"] == 90.5
    assert f["minutes_to_contract_close"] == round(90.5 / 60, 3)
    assert (f["hour_of_day"], f["day_of_week"]) == (0, 3)  # 2026-01-01 was a Thursday


def test_boundaries_give_none_not_errors():
    one_sided = book(((4800, 150_000),), ())
    f = features(book=one_sided, candles=[], obi_raw=None, atr_pct=None, remaining_ms=None)
    for name in (
        "obi",
        "roc_3",
        "spread_pct",
        "quoted_spread_at_entry_bps",
        "book_thickness_at_offer",
        "candle_body_pct",
        "volume_ratio",
        "last_candle_tick_count",
        "time_remaining_sec",
        "minutes_to_contract_close",
    ):
        assert f[name] is None, name
    assert f["green_candles_3"] == 0
    # A flat candle has no body ratio; a single candle or an idle history no activity ratio.
    assert features(candles=[candle(100, 100, 100, 100)])["candle_body_pct"] is None
    assert features(candles=[candle(100, 110, 90, 105)])["volume_ratio"] is None
    idle = [candle(100, 110, 90, 105, ticks=0), candle(100, 110, 90, 105, ticks=5)]
    assert features(candles=idle)["volume_ratio"] is None
    # Only the 10 best levels count as depth.
    deep = book(tuple((4000 + 10 * i, 1000) for i in range(12)), ())
    assert features(book=deep)["bid_depth"] == 10_000
    # Saturday 23:59:59.999 → hour 23, weekday 5; the next millisecond is Sunday 00h.
    saturday_end = T0 + 3 * 86_400_000 - 1
    assert (
        features(now=saturday_end)["hour_of_day"],
        features(now=saturday_end)["day_of_week"],
    ) == (23, 5)
    assert features(now=saturday_end + 1)["day_of_week"] == 6


def test_every_feature_is_filled_at_some_real_entry():
    # Not structurally always null (§7.1): each feature has a value at some captured entry
    # of a simulator stream driven through the session (the daemon's and backtests' path).
    engine = Engine(Params())
    # 30 warm-up candles (mixed colours, varying activity) so the ROC and ATR look-backs fill.
    engine.warm_up(
        candle(p, p + 60, p - 60, p + (20 if i % 2 else -20), T0 - (30 - i) * 900_000, 5 + i)
        for i, p in ((i, 66_000 + 10 * i) for i in range(30))
    )
    outputs = replay(engine, generate_events(7, T0, 60), 250)
    captured = of(outputs, FeaturesCaptured)
    assert captured
    for name in FEATURE_NAMES:
        assert any(c.features[name] is not None for c in captured), name
    assert all(tuple(c.features) == FEATURE_NAMES for c in captured)
