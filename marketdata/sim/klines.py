"""Binance ``GET /api/v3/klines`` from the simulator's history (exchange-protocols.md §5.4).

Only the past is served: bars after simulated "now" do not exist yet, and the bar in
progress is built from the per-second prints seen so far (Binance also returns the open
kline). Used by the back-fill command's tests and the demo's warm-up.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from marketdata.model.candles import MINUTE_MS, MinuteBar
from marketdata.sim.prices import PricePath

INTERVALS_MIN = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30,
    "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480, "12h": 720, "1d": 1440,
}  # fmt: skip
SYMBOLS = ("BTCUSDT",)


class KlineError(ValueError):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.body = {"code": code, "msg": msg}


def _partial_minute(path: PricePath, minute_ts: int, now: int) -> MinuteBar:
    bar = path.history.bar(minute_ts)
    seconds = [
        path.price_at_second(minute_ts // 1000 + i) for i in range((now - minute_ts) // 1000 + 1)
    ]
    fraction = len(seconds) / 60
    return MinuteBar(
        minute_ts, seconds[0], max(seconds), min(seconds), seconds[-1], bar.volume * fraction
    )


def _row(open_ts: int, interval_ms: int, bars: list[MinuteBar]) -> list[Any]:
    volume = sum(b.volume for b in bars)
    quote = sum(b.volume * (b.open + b.close) / 2 for b in bars)
    return [
        open_ts,
        f"{bars[0].open:.8f}",
        f"{max(b.high for b in bars):.8f}",
        f"{min(b.low for b in bars):.8f}",
        f"{bars[-1].close:.8f}",
        f"{volume:.8f}",
        open_ts + interval_ms - 1,
        f"{quote:.8f}",
        sum(int(b.volume * 40) + 1 for b in bars),
        f"{volume / 2:.8f}",
        f"{quote / 2:.8f}",
        "0",
    ]


def klines(
    path: PricePath, query: dict[str, str], now: int, missing: Collection[int] = ()
) -> list[list[Any]]:
    """``missing``: minute open times Binance has no bar for (its record has gaps, e.g. during
    maintenance); they are left out like Binance does, without counting against ``limit``."""
    symbol, interval = query.get("symbol"), query.get("interval")
    if not symbol or not interval:
        raise KlineError(-1102, "Mandatory parameter 'symbol' or 'interval' was not sent.")
    if symbol not in SYMBOLS:
        raise KlineError(-1121, "Invalid symbol.")
    if interval not in INTERVALS_MIN:
        raise KlineError(-1120, "Invalid interval.")
    try:
        limit = int(query.get("limit", "500"))
        start = int(query["startTime"]) if "startTime" in query else None
        end = int(query["endTime"]) if "endTime" in query else None
    except ValueError:
        raise KlineError(-1100, "Illegal characters found in a parameter.") from None
    if not 1 <= limit <= 1000:
        raise KlineError(-1130, "Invalid data sent for parameter 'limit'.")
    step = INTERVALS_MIN[interval] * MINUTE_MS
    history = path.history
    last_open = min(now - now % step, (end - end % step) if end is not None else now)
    first_allowed = history.first_ts + (-history.first_ts) % step
    if start is not None:
        first = max(start + (-start) % step, first_allowed)
    else:
        first = max(last_open - (limit - 1) * step, first_allowed)
    rows: list[list[Any]] = []
    open_ts = first
    while open_ts <= last_open and len(rows) < limit:
        minutes: list[MinuteBar] = []
        for minute_ts in range(open_ts, min(open_ts + step, now + 1), MINUTE_MS):
            if minute_ts in missing:
                continue
            if minute_ts + MINUTE_MS <= now:
                minutes.append(history.bar(minute_ts))
            else:
                minutes.append(_partial_minute(path, minute_ts, now))
        if minutes:
            rows.append(_row(open_ts, step, minutes))
        open_ts += step
    return rows
