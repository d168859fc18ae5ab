"""Spread divergence, a conviction modifier (domain.md §3.6).

One reading per second of event time (the original appended one per update, ⚠ §11.1) of
the active contract's YES spread when positive. The baseline is the median of the last
``sd_baseline_window`` readings; z = (current − baseline) / baseline. WIDE at z ≥ 0.40,
TIGHT at z ≤ −0.20. Only spoken in MEDIUM regime with enough history; a gap of
``sd_staleness_s`` without readings drops the history.
"""

from __future__ import annotations

import statistics
from collections import deque
from itertools import islice
from typing import Literal

from trading.engine.params import Params
from trading.engine.regime import Regime

SpreadState = Literal["WIDE", "TIGHT", "NORMAL"]


class SpreadTracker:
    __slots__ = ("_params", "history", "last_ts")

    def __init__(self, params: Params) -> None:
        self._params = params
        self.history: deque[int] = deque(maxlen=params.spread_history_len)
        self.last_ts: int | None = None

    def add_reading(self, ts: int, spread: int | None) -> None:
        if self.last_ts is not None and self.is_stale(ts):
            self.history.clear()
        if spread is None or spread <= 0:
            return
        self.history.append(spread)
        self.last_ts = ts

    def is_stale(self, now: int) -> bool:
        return self.last_ts is None or now - self.last_ts >= self._params.sd_staleness_s * 1000

    def state(self, now: int, current: int | None, regime: Regime) -> SpreadState:
        p = self._params
        if regime != "MEDIUM" or current is None or current <= 0 or self.is_stale(now):
            return "NORMAL"
        if len(self.history) < p.sd_min_history:
            return "NORMAL"
        history, window = self.history, p.sd_baseline_window
        recent = islice(history, len(history) - window, None) if len(history) > window else history
        baseline = statistics.median(recent)
        z = (current - baseline) / baseline
        if z >= p.sd_wide_threshold:
            return "WIDE"
        if z <= p.sd_tight_threshold:
            return "TIGHT"
        return "NORMAL"
