"""The BTC price path the simulator replays: 1-minute bars plus a per-second path inside.

History is a Binance-format 1-minute kline CSV (``KBTC_HISTORY``, plain or compressed,
columns ``timestamp,open,high,low,close,volume``); without it a seeded synthetic path is
used. Inside each minute the simulator needs one print per second (the settlement index is a
60-second average). Those 60 prints are a seeded random walk pinned to the bar: the first is
the open, the last the close, and the high and low are each touched once, so any client that
aggregates our ticks rebuilds exactly the bar it could download from ``/binance``.

Everything is a pure function of (seed, minute): the path can be read in any order and two
runs agree byte for byte.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from bisect import bisect_left
from pathlib import Path

from marketdata.history.klines import klines_between, open_kline_path
from marketdata.model.candles import MINUTE_MS, Candle, MinuteBar, candles_from_minutes

SECONDS_PER_MINUTE = 60


class PriceHistory:
    """Contiguous 1-minute bars, addressable by minute open time (ms)."""

    def __init__(self, bars: list[MinuteBar]) -> None:
        if not bars:
            raise ValueError("empty price history")
        for earlier, later in itertools.pairwise(bars):
            if later.ts - earlier.ts != MINUTE_MS:
                raise ValueError(f"history is not contiguous at {later.ts}")
        self.bars = bars
        self.first_ts = bars[0].ts
        self.last_ts = bars[-1].ts

    def bar(self, minute_ts: int) -> MinuteBar:
        index = (minute_ts - self.first_ts) // MINUTE_MS
        if minute_ts % MINUTE_MS or not 0 <= index < len(self.bars):
            raise KeyError(f"no bar at {minute_ts} (history {self.first_ts}..{self.last_ts})")
        return self.bars[index]

    def covers(self, start_ts: int, end_ts: int) -> bool:
        return self.first_ts <= start_ts and end_ts <= self.last_ts + MINUTE_MS

    def range(self, start_ts: int, end_ts: int) -> list[MinuteBar]:
        """Bars with ``start_ts <= ts < end_ts``."""
        lo = bisect_left(self.bars, start_ts, key=lambda b: b.ts)
        hi = bisect_left(self.bars, end_ts, key=lambda b: b.ts)
        return self.bars[lo:hi]


@functools.lru_cache(maxsize=8)
def load_history(
    path: str | Path, start_ts: int | None = None, end_ts: int | None = None
) -> PriceHistory:
    """Read a 1-minute kline CSV, keeping ``start_ts <= ts < end_ts`` (cached per process).

    Streams the file instead of loading it whole: the shared 3-year file is 1.6M rows, and
    a replay needs a few days of it (``klines_between`` skips the rest without parsing it).
    """
    path = Path(path).expanduser()
    with open_kline_path(path) as text:
        bars = [
            MinuteBar(
                ts,
                float(kline.open),
                float(kline.high),
                float(kline.low),
                float(kline.close),
                float(kline.volume),
            )
            for ts, kline in klines_between(text, start_ts, end_ts, name=path.name)
        ]
    return PriceHistory(bars)


def history_candles(
    history: PriceHistory, before_ts: int, *, count: int, interval_s: int = 900
) -> list[Candle]:
    """The last ``count`` complete candles before ``before_ts`` from the history itself: the
    warm-up where no candles table is filled (the demo's first start, tests, benchmarks),
    the same bars the simulator's Binance endpoint serves."""
    begin = before_ts - before_ts % (interval_s * 1000) - count * interval_s * 1000
    bars = history.range(max(begin, history.first_ts), before_ts)
    return candles_from_minutes(bars, interval_s, before_ts)


def synthetic_history(
    seed: int, start_ts: int, minutes: int, price: float = 65_000.0
) -> PriceHistory:
    """A seeded BTC-like path: log-normal minute returns with slowly wandering volatility.

    Volatility regimes matter because the market maker widens in volatile spells; a constant
    sigma would never exercise that.
    """
    rng = random.Random(f"kbtc-synthetic:{seed}:{start_ts}")
    bars: list[MinuteBar] = []
    vol = 0.0006  # per-minute stdev of log returns, about BTC's typical level
    ts = start_ts - start_ts % MINUTE_MS
    for _ in range(minutes):
        vol = min(0.003, max(0.0002, vol * math.exp(rng.gauss(0.0, 0.05))))
        close = round(price * math.exp(rng.gauss(0.0, vol)), 2)
        wick = abs(rng.gauss(0.0, vol * 0.5)) * price
        high = round(max(price, close) + wick * rng.random(), 2)
        low = round(min(price, close) - wick * rng.random(), 2)
        volume = round(abs(rng.gauss(8.0, 6.0)) * (vol / 0.0006) + 0.01, 5)
        bars.append(MinuteBar(ts, price, high, low, close, volume))
        price = close
        ts += MINUTE_MS
    return PriceHistory(bars)


def _bridge(rng: random.Random, start: float, end: float, steps: int, scale: float) -> list[float]:
    """A Brownian bridge from ``start`` to ``end`` in ``steps`` steps (``steps + 1`` points)."""
    if steps <= 0:
        return [end]
    walk = [0.0]
    for _ in range(steps):
        walk.append(walk[-1] + rng.gauss(0.0, scale))
    drift = walk[-1]
    return [
        start + (end - start) * i / steps + walk[i] - drift * i / steps for i in range(steps + 1)
    ]


@functools.lru_cache(maxsize=4096)
def second_prices(seed: int, bar: MinuteBar) -> tuple[float, ...]:
    """The 60 per-second prints of a minute: [0] = open, [59] = close, max = high, min = low."""
    rng = random.Random(f"kbtc-intraminute:{seed}:{bar.ts}")
    # Which extreme comes first: on an up bar the low usually precedes the high.
    low_first = rng.random() < (0.7 if bar.close >= bar.open else 0.3)
    a, b = sorted(rng.sample(range(1, 59), 2))
    first, second = (bar.low, bar.high) if low_first else (bar.high, bar.low)
    scale = max(bar.high - bar.low, 0.01) / 12
    path = _bridge(rng, bar.open, first, a, scale)
    path += _bridge(rng, first, second, b - a, scale)[1:]
    path += _bridge(rng, second, bar.close, 59 - b, scale)[1:]
    prices = [round(min(bar.high, max(bar.low, p)), 2) for p in path]
    prices[0], prices[a], prices[b], prices[59] = bar.open, first, second, bar.close
    return tuple(prices)


class PricePath:
    """Per-second prints over a history: ``price_at_second(s)`` for Unix second ``s``."""

    def __init__(self, history: PriceHistory, seed: int) -> None:
        self.history = history
        self.seed = seed

    def price_at_second(self, second: int) -> float:
        minute_ts = (second - second % SECONDS_PER_MINUTE) * 1000
        return second_prices(self.seed, self.history.bar(minute_ts))[second % SECONDS_PER_MINUTE]

    def average(self, end_second: int, window: int = 60) -> float:
        """Simple average of the ``window`` prints in seconds ``[end - window, end)``."""
        return sum(self.price_at_second(s) for s in range(end_second - window, end_second)) / window
