"""Chart series thinned on the server, so that every range shows its whole span within a
bounded payload.

Before: the equity chart's 1W/All returned the oldest 5,000 points (a day stale in the test)
and the BTC chart's 1W/1M/All the newest 1,500 one-minute bars (about a day). Now a range
picks the smallest bucket that fits ``MAX_POINTS`` over its span: candles are merged into
bucketed OHLC, the equity curve keeps the last point of each bucket (and its first point,
so the curve's start stays visible). Pure functions over rows already read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

MAX_POINTS = 1500
# Bucket widths (seconds) a chart may use: 1 and 5 minutes, 15 minutes, hours, days, a week.
BUCKETS_S = (60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400)


def bucket_for(span_s: int, *, at_least_s: int = 60, max_points: int = MAX_POINTS) -> int:
    """The smallest width of ``BUCKETS_S`` (not under ``at_least_s``) that cuts ``span_s``
    seconds into at most ``max_points`` buckets; the widest when none does."""
    for width in BUCKETS_S:
        if width >= at_least_s and span_s // width + 1 <= max_points:
            return width
    return BUCKETS_S[-1]


def ohlc_buckets(bars: Iterable[Sequence[Any]], width_s: int) -> list[dict[str, Any]]:
    """Merge ``(time_s, open, high, low, close, volume)`` bars, oldest first, into buckets of
    ``width_s`` aligned on the epoch: first open, highest high, lowest low, last close,
    summed volume. A bar repeated at the same time (two sources) replaces the earlier one."""
    out: list[dict[str, Any]] = []
    members: list[Sequence[Any]] = []
    bucket: int | None = None

    def flush() -> None:
        if bucket is not None and members:
            out.append(
                {
                    "time": bucket,
                    "open": float(members[0][1]),
                    "high": float(max(bar[2] for bar in members)),
                    "low": float(min(bar[3] for bar in members)),
                    "close": float(members[-1][4]),
                    "volume": float(sum(bar[5] for bar in members)),
                }
            )

    for bar in bars:
        start = bar[0] - bar[0] % width_s
        if start != bucket:
            flush()
            bucket, members = start, []
        if members and members[-1][0] == bar[0]:
            members[-1] = bar
        else:
            members.append(bar)
    flush()
    return out


def last_per_bucket(points: Iterable[dict[str, Any]], width_s: int) -> list[dict[str, Any]]:
    """Of points with a ``time`` (seconds), oldest first: the first point, then the last of
    each bucket of ``width_s``, each at its own time (a live tick appended later stays in
    order)."""
    out: list[dict[str, Any]] = []
    bucket: int | None = None
    for point in points:
        start = point["time"] - point["time"] % width_s
        if not out:
            out.append(point)
        elif start == bucket and len(out) > 1:
            out[-1] = point
        else:
            out.append(point)
        bucket = start
    return out
