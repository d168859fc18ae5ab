"""Order-book imbalance (domain.md §2.5, §3.4).

One reading per second of event time from the active contract's top-N book:
raw = bid_vol / (bid_vol + ask_vol). The smoothed value is the median of the raw readings
in a trailing window (base ``obi_smooth_window_s``), widened ×1.5 when the last 60 s of raw
readings are volatile (population stdev > 0.15) and narrowed ×0.75 when calm (< 0.05);
with fewer than ``obi_smooth_min_samples`` in the window the raw value is used.
The last ``obi_history_len`` smoothed readings drive the entry direction.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.signals import Direction

# The original's fixed adaptation constants (not exposed as settings there either).
STDEV_MIN_SAMPLES = 5
STDEV_HIGH = 0.15
STDEV_LOW = 0.05
WINDOW_WIDEN = 1.5
WINDOW_NARROW = 0.75


def raw_obi(bid_volume: int, ask_volume: int) -> float | None:
    total = bid_volume + ask_volume
    return None if total <= 0 else bid_volume / total


class ObiTracker:
    """Raw samples and smoothed history for one contract (reset when the contract changes)."""

    __slots__ = ("_params", "_raw", "history", "last_raw", "ticker")

    def __init__(self, params: Params) -> None:
        self._params = params
        self._raw: deque[tuple[int, float]] = deque()
        self.history: deque[float] = deque(maxlen=params.obi_history_len)
        self.last_raw: float | None = None
        self.ticker: str | None = None

    def reset(self, ticker: str | None) -> None:
        self._raw.clear()
        self.history.clear()
        self.last_raw = None
        self.ticker = ticker

    @property
    def smoothed(self) -> float | None:
        return self.history[-1] if self.history else None

    def add_reading(self, ts: int, raw: float) -> float:
        """Record one per-second raw reading; returns (and stores) the smoothed value."""
        p = self._params
        horizon = ts - max(p.obi_stdev_window_s, p.obi_smooth_window_s * WINDOW_WIDEN) * 1000
        self._raw.append((ts, raw))
        while self._raw[0][0] < horizon:
            self._raw.popleft()
        self.last_raw = raw
        since = ts - self.window_s(ts) * 1000
        in_window = []
        for t, value in reversed(self._raw):  # newest first: the window is a short tail
            if t < since:
                break
            in_window.append(value)
        if len(in_window) < p.obi_smooth_min_samples:
            smoothed = raw
        else:
            smoothed = statistics.median(in_window)
        self.history.append(smoothed)
        return smoothed

    def window_s(self, ts: int) -> float:
        """The adaptive median window at ``ts`` (after the reading at ``ts`` was stored)."""
        base = self._params.obi_smooth_window_s
        since = ts - self._params.obi_stdev_window_s * 1000
        recent = [value for t, value in self._raw if t >= since]
        n = len(recent)
        if n < STDEV_MIN_SAMPLES:
            return base
        mean = sum(recent) / n
        stdev = math.sqrt(sum([(value - mean) * (value - mean) for value in recent]) / n)
        if stdev > STDEV_HIGH:
            return base * WINDOW_WIDEN
        if stdev < STDEV_LOW:
            return base * WINDOW_NARROW
        return base


def obi_direction(
    history: deque[float] | list[float],
    book_volume: int,
    *,
    holding: bool,
    regime: Regime,
    params: Params,
) -> Direction | None:
    """LONG / SHORT when the last N smoothed readings all clear the threshold, else None.

    ``book_volume`` is the top-N volume of both sides in hundredths of a contract.
    """
    n = params.obi_consecutive_readings
    if holding or regime == "HIGH" or len(history) < n:
        return None
    if book_volume < params.min_book_volume_contracts * 100:
        return None
    last = list(history)[-n:]
    if all(value >= params.obi_long_threshold for value in last):
        return "LONG"
    if all(value <= params.obi_short_threshold for value in last):
        return "SHORT"
    return None
