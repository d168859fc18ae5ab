"""Completed 15-minute candles older than the start, for the ATR regime and ROC.

From the candles table (the back-fill command and the live recorder fill it); where the
table has nothing that old, the demo and the tests fall back to the simulator's own price
history (``marketdata.sim.prices.history_candles``). Only bars that end at or before
``before_ts`` are returned ("warm-up reads only data older than now", interfaces.md §4).
"""

from __future__ import annotations

import datetime as dt

from marketdata.model.candles import Candle, MinuteBar, candles_from_minutes


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
    return candles_from_minutes(
        [minute_bars[ts] for ts in sorted(minute_bars)], interval_s, before_ts
    )
