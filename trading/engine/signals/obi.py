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
from bisect import bisect_left
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


# The window's population variance is first estimated from running-free sums (Σv, Σv²,
# both re-summed over the window each reading, so nothing drifts). Only when that estimate
# lies within this distance of a threshold's square is the exact two-pass stdev of the
# original computed: the estimate's error is ~1e-14 for ≤ a few thousand readings in
# [0, 1], so outside the band both give the same verdict (test_obi_window_matches_*).
_VAR_HIGH = STDEV_HIGH * STDEV_HIGH
_VAR_LOW = STDEV_LOW * STDEV_LOW
_VAR_GUARD = 1e-9


class ObiTracker:
    """Raw samples and smoothed history for one contract (reset when the contract changes).

    Readings arrive in time order (one per second of event time), so the trailing windows
    are suffixes of the sample lists, found by bisection.
    """

    __slots__ = ("_params", "_squares", "_ts", "_values", "history", "last_raw", "ticker")

    def __init__(self, params: Params) -> None:
        self._params = params
        self._ts: list[int] = []  # reading times, ascending
        self._values: list[float] = []  # raw readings
        self._squares: list[float] = []  # raw readings squared
        self.history: deque[float] = deque(maxlen=params.obi_history_len)
        self.last_raw: float | None = None
        self.ticker: str | None = None

    def reset(self, ticker: str | None) -> None:
        self._ts.clear()
        self._values.clear()
        self._squares.clear()
        self.history.clear()
        self.last_raw = None
        self.ticker = ticker

    @property
    def smoothed(self) -> float | None:
        return self.history[-1] if self.history else None

    def raw_readings(self) -> list[tuple[int, float]]:
        """The raw readings kept for the windows, oldest first."""
        return list(zip(self._ts, self._values, strict=True))

    def extend(self, other: ObiTracker) -> None:
        """Take over ``other``'s readings and history (a parameter change keeps them)."""
        self.ticker, self.last_raw = other.ticker, other.last_raw
        self._ts.extend(other._ts)
        self._values.extend(other._values)
        self._squares.extend(other._squares)
        self.history.extend(other.history)

    def add_reading(self, ts: int, raw: float) -> float:
        """Record one per-second raw reading; returns (and stores) the smoothed value."""
        p = self._params
        horizon = ts - max(p.obi_stdev_window_s, p.obi_smooth_window_s * WINDOW_WIDEN) * 1000
        times, values, squares = self._ts, self._values, self._squares
        times.append(ts)
        values.append(raw)
        squares.append(raw * raw)
        cut = bisect_left(times, horizon)
        if cut:
            del times[:cut], values[:cut], squares[:cut]
        self.last_raw = raw
        start = bisect_left(times, ts - self.window_s(ts) * 1000)
        n = len(times) - start
        if n < p.obi_smooth_min_samples:
            smoothed = raw
        else:
            ordered = sorted(values[start:])
            half = n // 2
            # statistics.median, inlined
            smoothed = ordered[half] if n % 2 else (ordered[half - 1] + ordered[half]) / 2
        self.history.append(smoothed)
        return smoothed

    def window_s(self, ts: int) -> float:
        """The adaptive median window at ``ts`` (after the reading at ``ts`` was stored)."""
        base = self._params.obi_smooth_window_s
        start = bisect_left(self._ts, ts - self._params.obi_stdev_window_s * 1000)
        n = len(self._ts) - start
        if n < STDEV_MIN_SAMPLES:
            return base
        recent = self._values[start:]
        mean = sum(recent) / n
        variance = sum(self._squares[start:]) / n - mean * mean
        if abs(variance - _VAR_HIGH) <= _VAR_GUARD or abs(variance - _VAR_LOW) <= _VAR_GUARD:
            # Near a threshold: the original's two-pass population stdev decides.
            stdev = math.sqrt(sum([(value - mean) * (value - mean) for value in recent]) / n)
            wide, narrow = stdev > STDEV_HIGH, stdev < STDEV_LOW
        else:
            wide, narrow = variance > _VAR_HIGH, variance < _VAR_LOW
        if wide:
            return base * WINDOW_WIDEN
        if narrow:
            return base * WINDOW_NARROW
        return base


def obi_extremes(history: deque[float] | list[float], n: int) -> tuple[float, float] | None:
    """(lowest, highest) of the last ``n`` smoothed readings; None with fewer than ``n``."""
    if len(history) < n:
        return None
    last = list(history)[-n:]
    return min(last), max(last)


def obi_direction(
    history: deque[float] | list[float],
    book_volume: int,
    *,
    holding: bool,
    regime: Regime,
    params: Params,
    extremes: tuple[float, float] | None = None,
) -> Direction | None:
    """LONG / SHORT when the last N smoothed readings all clear the threshold, else None.

    ``book_volume`` is the top-N volume of both sides in hundredths of a contract.
    ``extremes``: ``obi_extremes(history, N)`` when the caller already has it (lanes with
    different thresholds share it within a second); every reading clears a threshold
    exactly when the lowest (LONG) or the highest (SHORT) does.
    """
    n = params.obi_consecutive_readings
    if holding or regime == "HIGH" or len(history) < n:
        return None
    if book_volume < params.min_book_volume_contracts * 100:
        return None
    low, high = extremes or obi_extremes(history, n)  # type: ignore[misc]
    if low >= params.obi_long_threshold:
        return "LONG"
    if high <= params.obi_short_threshold:
        return "SHORT"
    return None
