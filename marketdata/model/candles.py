"""OHLCV candles closed on event time (domain.md §2.6, §13 point 8).

A bar covers ``[start, start + interval)`` in UTC-aligned milliseconds. It closes when the
first update **or clock tick** at or after its end arrives, so live trading and a replay of
the same events close the same bars at the same moment: the original only closed a bar on
the next price tick, which let a quiet spell hold a finished bar open.

Bars without any update are not invented: a gap in the feed is a gap in the candles.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Candle:
    start_ts: int  # ms, bar open time
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int

    @property
    def end_ts(self) -> int:
        """Exclusive end of the bar in ms."""
        return self.start_ts + self.interval_s * 1000


class CandleAggregator:
    """Builds bars of ``interval_s`` seconds from ``(ts_ms, price[, volume])`` updates."""

    __slots__ = (
        "_close",
        "_closed_end",
        "_high",
        "_low",
        "_open",
        "_start",
        "_ticks",
        "_volume",
        "closed",
        "interval_ms",
        "interval_s",
        "late_updates",
    )

    def __init__(self, interval_s: int, keep: int = 500) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.interval_ms = interval_s * 1000
        self.closed: deque[Candle] = deque(maxlen=keep)  # ring buffer of completed bars
        self.late_updates = 0  # updates older than the open bar (already-closed time): dropped
        self._start: int | None = None
        self._closed_end: int | None = None
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0
        self._ticks = 0

    def bar_start(self, ts: int) -> int:
        return ts - ts % self.interval_ms

    def update(self, ts: int, price: float, volume: float = 0.0) -> list[Candle]:
        """Fold one price update in; returns the bar it closed, if any (0 or 1 candles)."""
        # ``advance`` only when the open bar ends (every spot print of a replay comes here)
        done = (
            self.advance(ts)
            if self._start is not None and ts >= self._start + self.interval_ms
            else []
        )
        start = ts - ts % self.interval_ms  # bar_start
        if self._start is None:
            if self._closed_end is not None and start < self._closed_end:
                self.late_updates += 1
                return done
            self._start = start
            self._open = self._high = self._low = self._close = price
            self._volume = volume
            self._ticks = 1
            return done
        if start < self._start:
            self.late_updates += 1
            return done
        self._high = max(self._high, price)
        self._low = min(self._low, price)
        self._close = price
        self._volume += volume
        self._ticks += 1
        return done

    def advance(self, ts: int) -> list[Candle]:
        """Close the open bar if ``ts`` is at or past its end (call on every clock tick)."""
        if self._start is None or ts < self._start + self.interval_ms:
            return []
        candle = Candle(
            start_ts=self._start,
            interval_s=self.interval_s,
            open=self._open,
            high=self._high,
            low=self._low,
            close=self._close,
            volume=self._volume,
            tick_count=self._ticks,
        )
        self.closed.append(candle)
        self._closed_end = candle.end_ts
        self._start = None
        return [candle]

    @property
    def current(self) -> Candle | None:
        """The bar being built (not yet closed), or None."""
        if self._start is None:
            return None
        return Candle(
            self._start,
            self.interval_s,
            self._open,
            self._high,
            self._low,
            self._close,
            self._volume,
            self._ticks,
        )


@dataclass(frozen=True, slots=True)
class MinuteBar:
    """One 1-minute bar: a kline as the simulator replays it and the warm-up reads it."""

    ts: int  # open time, ms
    open: float
    high: float
    low: float
    close: float
    volume: float


def candles_from_minutes(
    bars: Sequence[MinuteBar], interval_s: int, before_ts: int
) -> list[Candle]:
    """1-minute bars → the complete ``interval_s`` candles ending at or before ``before_ts``
    (a candle missing a minute is left out, not invented)."""
    interval_ms = interval_s * 1000
    per_candle = interval_ms // MINUTE_MS
    groups: dict[int, list[MinuteBar]] = {}
    for bar in bars:
        groups.setdefault(bar.ts - bar.ts % interval_ms, []).append(bar)
    candles = []
    for start, group in sorted(groups.items()):
        if start + interval_ms > before_ts or len(group) != per_candle:
            continue  # incomplete, or not yet closed at the start
        candles.append(
            Candle(
                start_ts=start,
                interval_s=interval_s,
                open=group[0].open,
                high=max(b.high for b in group),
                low=min(b.low for b in group),
                close=group[-1].close,
                volume=sum(b.volume for b in group),
                tick_count=len(group),
            )
        )
    return candles
