"""Entry features for the ML gate and its training set (domain.md §7.1).

Computed from the state at the entry decision (nothing from the future: BUG-026/029) and
emitted when the entry fills, keyed by position (never by ticker across lanes, §11.1).
Depths are in hundredths of a contract; spreads and thickness use price units.

``entry_features`` is the one definition: live inference, the captured training rows and
backtests all read it. ``FEATURE_NAMES`` is its key order, the model's column order.
"""

from __future__ import annotations

from collections.abc import Sequence

from marketdata.model.book import OrderBook
from marketdata.model.candles import Candle
from trading.engine.signals.roc import roc

THICKNESS_HALF_WIDTH = 500  # ±5 ¢ around the mid
ACTIVITY_LOOKBACK = 5
DEPTH_LEVELS = 10  # bid_depth / ask_depth: top-10 YES levels (§7.1), whatever the OBI reads

FEATURE_NAMES: tuple[str, ...] = (
    "obi",
    "roc_3",
    "roc_5",
    "roc_10",
    "atr_pct",
    "spread_pct",
    "bid_depth",
    "ask_depth",
    "green_candles_3",
    "candle_body_pct",
    "volume_ratio",
    "time_remaining_sec",
    "hour_of_day",
    "day_of_week",
    "minutes_to_contract_close",
    "quoted_spread_at_entry_bps",
    "book_thickness_at_offer",
    # The original's ``recent_trade_count_60s`` (misnamed, §7.1): the tick count of the last
    # completed 15-minute spot candle, not a 60-second trade count.
    "last_candle_tick_count",
)
# What is known only after the exit (§7.2): never a feature (BUG-026/029).
OUTCOME_COLUMNS = frozenset({"label", "pnl", "mfe", "mae", "pnl_frac"})


def _volume_ratio(candles: Sequence[Candle]) -> float | None:
    if len(candles) < 2:
        return None
    prior = candles[-(ACTIVITY_LOOKBACK + 1) : -1]
    mean = sum(c.tick_count for c in prior) / len(prior)
    return None if mean <= 0 else candles[-1].tick_count / mean


def entry_features(
    *,
    now: int,
    book: OrderBook,
    candles: Sequence[Candle],
    obi_raw: float | None,
    atr_pct: float | None,
    remaining_ms: int | None,
) -> dict[str, float | int | None]:
    closes = [c.close for c in candles[-11:]]
    last = candles[-1] if candles else None
    bid, ask, mid = book.best_yes_bid, book.best_yes_ask, book.mid
    spread = None if bid is None or ask is None else ask - bid
    remaining_s = None if remaining_ms is None else remaining_ms / 1000
    return {
        "obi": None if obi_raw is None else round(obi_raw, 4),
        "roc_3": roc(closes, 3),
        "roc_5": roc(closes, 5),
        "roc_10": roc(closes, 10),
        "atr_pct": atr_pct,
        "spread_pct": None if spread is None or not mid else spread / mid,
        "bid_depth": book.bid_volume(DEPTH_LEVELS),
        "ask_depth": book.ask_volume(DEPTH_LEVELS),
        "green_candles_3": sum(1 for c in candles[-3:] if c.close > c.open),
        "candle_body_pct": (
            abs(last.close - last.open) / (last.high - last.low)
            if last is not None and last.high > last.low
            else None
        ),
        "volume_ratio": _volume_ratio(candles),
        "time_remaining_sec": remaining_s,
        "hour_of_day": now // 3_600_000 % 24,
        "day_of_week": (now // 86_400_000 + 3) % 7,  # Monday = 0
        "minutes_to_contract_close": None if remaining_s is None else round(remaining_s / 60, 3),
        "quoted_spread_at_entry_bps": (
            None if spread is None or not mid else round(spread / mid * 10_000)
        ),
        "book_thickness_at_offer": (
            None if mid is None else book.thickness(round(mid), THICKNESS_HALF_WIDTH)
        ),
        "last_candle_tick_count": last.tick_count if last is not None else None,
    }
