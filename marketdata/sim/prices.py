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


SYNTHETIC_ORIGIN_MS = 1_577_836_800_000  # 2020-01-01T00:00Z: day 0 of every synthetic path
DAY_MINUTES = 1440
_BASE_VOL = 0.0006  # per-minute stdev of log returns, about BTC's typical level


def synthetic_history(
    seed: int, start_ts: int, minutes: int, price: float = 65_000.0
) -> PriceHistory:
    """A seeded BTC-like path: log-normal minute returns with slowly wandering volatility.

    Volatility regimes matter because the market maker widens in volatile spells; a constant
    sigma would never exercise that. The path is one fixed function of (seed, minute) from
    ``SYNTHETIC_ORIGIN_MS`` on, whatever ``start_ts`` asks for: each UTC day is drawn from
    its own seed between two daily anchors (open price and volatility, a cheap chain from
    the origin), so a demo restarted at its saved time continues the same market instead
    of a fresh one (it once jumped 9.3 % across a restart).
    """
    first = start_ts - start_ts % MINUTE_MS
    if first < SYNTHETIC_ORIGIN_MS:
        raise ValueError("the synthetic path starts at 2020-01-01T00:00Z")
    bars: list[MinuteBar] = []
    day = (first - SYNTHETIC_ORIGIN_MS) // (DAY_MINUTES * MINUTE_MS)
    end = first + minutes * MINUTE_MS
    while len(bars) < minutes:
        for bar in _synthetic_day(seed, day, price):
            if first <= bar.ts < end:
                bars.append(bar)
        day += 1
    return PriceHistory(bars)


_ANCHORS: dict[tuple[int, float], tuple[list[tuple[float, float]], random.Random]] = {}


def _anchor(seed: int, day: int, price: float) -> tuple[float, float]:
    """(open price, per-minute volatility) of synthetic day ``day``: a mean-reverting chain
    from the origin, so prices stay BTC-like over years and any day is cheap to reach. The
    chain is one random stream, continued where it stopped: a day's anchor does not depend
    on which days were asked for before."""
    key = (seed, price)
    if key not in _ANCHORS:
        _ANCHORS[key] = ([(price, _BASE_VOL)], random.Random(f"kbtc-synthetic-days:{seed}:1"))
    chain, rng = _ANCHORS[key]
    while len(chain) <= day:
        level, vol = chain[-1]
        drift = -0.01 * math.log(level / price)
        level = round(level * math.exp(drift + rng.gauss(0.0, vol * math.sqrt(DAY_MINUTES))), 2)
        log_vol = math.log(vol)
        log_vol += rng.gauss(0.0, 0.3) - 0.1 * (log_vol - math.log(_BASE_VOL))
        chain.append((level, min(0.003, max(0.0002, math.exp(log_vol)))))
    return chain[day]


@functools.lru_cache(maxsize=64)
def _synthetic_day(seed: int, day: int, price: float) -> tuple[MinuteBar, ...]:
    """The day's 1440 bars: a log-price bridge between its anchor and the next day's,
    under a volatility that wanders (bridged) between the two anchors' levels."""
    (level, vol_open), (next_level, vol_close) = (
        _anchor(seed, day, price),
        _anchor(seed, day + 1, price),
    )
    rng = random.Random(f"kbtc-synthetic:{seed}:{day}")
    steps = DAY_MINUTES
    wander = _bridge(rng, 0.0, 0.0, steps, 0.05)
    vols = [
        min(
            0.003,
            max(
                0.0002,
                math.exp(
                    math.log(vol_open) * (1 - i / steps)
                    + math.log(vol_close) * (i / steps)
                    + wander[i]
                ),
            ),
        )
        for i in range(steps)
    ]
    walk = [0.0]
    for vol in vols:
        walk.append(walk[-1] + rng.gauss(0.0, vol))
    target = math.log(next_level / level)
    logs = [walk[i] - (walk[-1] - target) * i / steps for i in range(steps + 1)]
    ts = SYNTHETIC_ORIGIN_MS + day * DAY_MINUTES * MINUTE_MS
    bars: list[MinuteBar] = []
    open_price = level
    for i, vol in enumerate(vols):
        close = next_level if i == steps - 1 else round(level * math.exp(logs[i + 1]), 2)
        wick = abs(rng.gauss(0.0, vol * 0.5)) * open_price
        high = round(max(open_price, close) + wick * rng.random(), 2)
        low = round(min(open_price, close) - wick * rng.random(), 2)
        volume = round(abs(rng.gauss(8.0, 6.0)) * (vol / _BASE_VOL) + 0.01, 5)
        bars.append(MinuteBar(ts + i * MINUTE_MS, open_price, high, low, close, volume))
        open_price = close
    return tuple(bars)


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
        # The minute last asked for and its prints (one tuple: replaced at once): the
        # simulator asks second after second, and ``second_prices``' cache would hash the
        # minute's bar each time.
        self._minute: tuple[int | None, tuple[float, ...]] = (None, ())

    def price_at_second(self, second: int) -> float:
        minute_ts = (second - second % SECONDS_PER_MINUTE) * 1000
        cached_ts, prices = self._minute
        if cached_ts != minute_ts:
            prices = second_prices(self.seed, self.history.bar(minute_ts))
            self._minute = (minute_ts, prices)
        return prices[second % SECONDS_PER_MINUTE]

    def prints(self, first: int, stop: int) -> list[float]:
        """The prints of seconds ``[first, stop)`` in order (``price_at_second`` of each,
        one minute's slice at a time)."""
        out: list[float] = []
        second = first
        while second < stop:
            offset = second % SECONDS_PER_MINUTE
            minute_start = second - offset
            end = min(stop, minute_start + SECONDS_PER_MINUTE)
            prices = second_prices(self.seed, self.history.bar(minute_start * 1000))
            out += prices[offset : offset + end - second]
            second = end
        return out

    def average(self, end_second: int, window: int = 60) -> float:
        """Simple average of the ``window`` prints in seconds ``[end - window, end)``."""
        return sum(self.prints(end_second - window, end_second)) / window
