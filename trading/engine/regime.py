"""ATR volatility regime (domain.md §3.3), updated on each completed spot candle.

TR = max(H − L, |H − prevClose|, |L − prevClose|); ATR is the simple mean of the last
``atr_period`` TRs; ATR% = ATR / close × 100, smoothed by a simple mean of the last
``atr_smooth_period`` values. The regime switches only when the last
``atr_regime_confirm_bars`` raw classes agree, so one noisy bar cannot flip it.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from marketdata.model.candles import Candle
from trading.engine.params import Params

Regime = Literal["LOW", "MEDIUM", "HIGH"]


class RegimeTracker:
    __slots__ = (
        "_atr_pcts",
        "_classes",
        "_params",
        "_prev_close",
        "_trs",
        "atr_pct",
        "regime",
        "smoothed_atr_pct",
    )

    def __init__(self, params: Params) -> None:
        self._params = params
        self._prev_close: float | None = None
        self._trs: deque[float] = deque(maxlen=params.atr_period)
        self._atr_pcts: deque[float] = deque(maxlen=params.atr_smooth_period)
        self._classes: deque[Regime] = deque(maxlen=params.atr_regime_confirm_bars)
        self.regime: Regime = "MEDIUM"
        self.atr_pct: float | None = None  # latest, unsmoothed: ROC thresholds use this
        self.smoothed_atr_pct: float | None = None

    def on_candle(self, candle: Candle) -> Regime | None:
        """Fold a completed candle in; returns the new regime when it changed."""
        prev = self._prev_close
        self._prev_close = candle.close
        if prev is None:
            return None  # the first candle only seeds prevClose
        tr = max(candle.high - candle.low, abs(candle.high - prev), abs(candle.low - prev))
        self._trs.append(tr)
        if len(self._trs) < self._params.atr_period or candle.close <= 0:
            return None
        atr = sum(self._trs) / len(self._trs)
        self.atr_pct = atr / candle.close * 100
        self._atr_pcts.append(self.atr_pct)
        self.smoothed_atr_pct = sum(self._atr_pcts) / len(self._atr_pcts)
        self._classes.append(self.classify(self.smoothed_atr_pct))
        confirm = self._params.atr_regime_confirm_bars
        if len(self._classes) < confirm or len(set(self._classes)) != 1:
            return None
        new = self._classes[-1]
        if new == self.regime:
            return None
        self.regime = new
        return new

    def classify(self, smoothed_atr_pct: float) -> Regime:
        if smoothed_atr_pct < self._params.atr_low_threshold:
            return "LOW"
        if smoothed_atr_pct > self._params.atr_high_threshold:
            return "HIGH"
        return "MEDIUM"
