"""Rate of change over completed spot candles (domain.md §3.5).

ROC(closes, L) = (close[-1] − close[-(L+1)]) / close[-(L+1)] × 100. The entry threshold
scales with volatility: clamp(ATR% × 1.2, 0.10, 1.0) using the latest unsmoothed ATR%, or
the static ±0.4 before ATR exists. |ROC| beyond the caps is a blow-off and ignored. A
direction needs candle confirmation: at least ``roc_candle_confirm_min`` of the last 3
candles closed its way (lowered to 1 in MEDIUM regime, as in the original).
"""

from __future__ import annotations

from collections.abc import Sequence

from marketdata.model.candles import Candle
from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.signals import Direction

CONFIRM_CANDLES = 3


def roc(closes: Sequence[float], lookback: int) -> float | None:
    if len(closes) < lookback + 1:
        return None
    past = closes[-(lookback + 1)]
    if past == 0:
        return None
    return (closes[-1] - past) / past * 100


def roc_threshold(atr_pct: float | None, params: Params) -> tuple[float, float]:
    """(long threshold, short threshold)."""
    if atr_pct is None:
        return params.roc_long_threshold, params.roc_short_threshold
    thr = min(
        max(atr_pct * params.roc_threshold_atr_mult, params.roc_threshold_floor),
        params.roc_threshold_cap,
    )
    return thr, -thr


def confirming_candles(candles: Sequence[Candle], direction: Direction) -> int:
    recent = candles[-CONFIRM_CANDLES:]
    if direction == "LONG":
        return sum(1 for c in recent if c.close > c.open)
    return sum(1 for c in recent if c.close < c.open)


def roc_direction(
    candles: Sequence[Candle],
    *,
    atr_pct: float | None,
    regime: Regime,
    holding: bool,
    obi: Direction | None,
    params: Params,
) -> Direction | None:
    if holding or regime == "LOW":
        return None
    value = roc([c.close for c in candles[-(params.roc_lookback + 1) :]], params.roc_lookback)
    if value is None or value > params.roc_max_cap or value < params.roc_min_cap:
        return None
    long_thr, short_thr = roc_threshold(atr_pct, params)
    if value >= long_thr and obi != "SHORT":
        direction: Direction = "LONG"
    elif value <= short_thr and obi != "LONG":
        direction = "SHORT"
    else:
        return None
    needed = 1 if regime == "MEDIUM" else params.roc_candle_confirm_min
    return direction if confirming_candles(candles, direction) >= needed else None
