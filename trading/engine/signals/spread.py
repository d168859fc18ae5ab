"""Spread divergence, a conviction modifier (domain.md §3.6).

One reading per second of event time (the original appended one per update, ⚠ §11.1) of
the active contract's YES spread when positive. The baseline is the median of the last
``sd_baseline_window`` readings; z = (current − baseline) / baseline. WIDE at z ≥ 0.40,
TIGHT at z ≤ −0.20. Only spoken in MEDIUM regime with enough history; a gap of
``sd_staleness_s`` without readings drops the history.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Literal

from trading.engine.params import Params
from trading.engine.regime import Regime

SpreadState = Literal["WIDE", "TIGHT", "NORMAL"]


class SpreadTracker:
    """Spread readings in arrival order (``history``) and, kept sorted alongside, the last
    ``sd_baseline_window`` of them, so the baseline median is a lookup, not a sort."""

    __slots__ = ("_params", "_window", "history", "last_ts")

    def __init__(self, params: Params) -> None:
        self._params = params
        self.history: deque[int] = deque(maxlen=params.spread_history_len)
        self._window: list[int] = []  # the baseline window's readings, ascending
        self.last_ts: int | None = None

    def extend(self, other: SpreadTracker) -> None:
        """Take over ``other``'s readings (a parameter change keeps them)."""
        self.history.extend(other.history)
        self.last_ts = other.last_ts
        window = self._params.sd_baseline_window
        self._window = sorted(list(self.history)[-window:])

    def add_reading(self, ts: int, spread: int | None) -> None:
        history = self.history
        if self.last_ts is not None and self.is_stale(ts):
            history.clear()
            self._window.clear()
        if spread is None or spread <= 0:
            return
        if len(history) >= self._params.sd_baseline_window:  # its oldest reading leaves
            window = self._window
            del window[bisect_left(window, history[-self._params.sd_baseline_window])]
        history.append(spread)  # (the window never exceeds the history's length)
        insort(self._window, spread)
        self.last_ts = ts

    def is_stale(self, now: int) -> bool:
        return self.last_ts is None or now - self.last_ts >= self._params.sd_staleness_s * 1000

    def baseline(self) -> float:
        """Median of the last ``sd_baseline_window`` readings (``statistics.median``)."""
        window = self._window
        n = len(window)
        half = n // 2
        return window[half] if n % 2 else (window[half - 1] + window[half]) / 2

    def state(self, now: int, current: int | None, regime: Regime) -> SpreadState:
        p = self._params
        if regime != "MEDIUM" or current is None or current <= 0 or self.is_stale(now):
            return "NORMAL"
        if len(self.history) < p.sd_min_history:
            return "NORMAL"
        baseline = self.baseline()
        z = (current - baseline) / baseline
        if z >= p.sd_wide_threshold:
            return "WIDE"
        if z <= p.sd_tight_threshold:
            return "TIGHT"
        return "NORMAL"
