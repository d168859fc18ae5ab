"""Completed 15-minute candles older than the start, for the ATR regime and ROC.

Two sources: the candles table (production: the back-fill command and the live recorder
fill it) and, where the table has nothing that old, the simulator's own price history
(the embedded demo and the tests: the same bars its Binance endpoint serves). Only bars
that end at or before ``before_ts`` are returned ("warm-up reads only data older than
now", interfaces.md §4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from marketdata.model.candles import Candle
from marketdata.sim.prices import MinuteBar, PriceHistory

MINUTE_MS = 60_000


def aggregate(bars: Sequence[MinuteBar], interval_s: int, before_ts: int) -> list[Candle]:
    """1-minute bars → complete ``interval_s`` candles ending at or before ``before_ts``."""
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


def history_candles(
    history: PriceHistory, before_ts: int, *, count: int, interval_s: int = 900
) -> list[Candle]:
    begin = before_ts - before_ts % (interval_s * 1000) - count * interval_s * 1000
    return aggregate(history.range(max(begin, history.first_ts), before_ts), interval_s, before_ts)


def table_candles(before_ts: int, *, count: int, interval_s: int = 900) -> list[Candle]:
    """From ``marketdata.Candle``: stored bars of this interval, else 1-minute bars."""
    from marketdata.models import Candle as CandleRow

    begin = before_ts - before_ts % (interval_s * 1000) - count * interval_s * 1000
    rows = CandleRow.objects.filter(
        open_time__gte=dt.datetime.fromtimestamp(begin / 1000, tz=dt.UTC),
        open_time__lt=dt.datetime.fromtimestamp(before_ts / 1000, tz=dt.UTC),
    ).order_by("open_time")
    minute_bars: dict[int, MinuteBar] = {}
    direct: dict[int, Candle] = {}
    for row in rows:
        ts = int(row.open_time.timestamp() * 1000)
        if row.interval_s == interval_s and ts + interval_s * 1000 <= before_ts:
            direct[ts] = Candle(
                ts,
                interval_s,
                float(row.open),
                float(row.high),
                float(row.low),
                float(row.close),
                float(row.volume),
                row.tick_count,
            )
        elif row.interval_s == 60 and ts not in minute_bars:
            minute_bars[ts] = MinuteBar(
                ts,
                float(row.open),
                float(row.high),
                float(row.low),
                float(row.close),
                float(row.volume),
            )
    if direct:
        return [direct[ts] for ts in sorted(direct)]
    return aggregate([minute_bars[ts] for ts in sorted(minute_bars)], interval_s, before_ts)
