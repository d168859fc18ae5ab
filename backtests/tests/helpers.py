"""Test data for the backtester: seeded synthetic paths written as Binance kline files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from marketdata.sim.prices import MinuteBar, synthetic_history

START = 1_767_225_600_000  # 2026-01-01T00:00Z (seed 7's synthetic path trades within the hour)
SEED = 7
BANKROLL = 1_000_000_000
LATENCY = 200


def synthetic_bars(seed: int, start_ts: int, minutes: int) -> list[MinuteBar]:
    return synthetic_history(seed, start_ts, minutes).bars


def write_klines(path: Path, bars: Sequence[MinuteBar]) -> Path:
    """Bars as the shared Binance file spells them (ISO open time, shortest float repr)."""
    with path.open("w") as out:
        out.write("timestamp,open,high,low,close,volume\n")
        for bar in bars:
            stamp = dt.datetime.fromtimestamp(bar.ts / 1000, tz=dt.UTC)
            out.write(
                f"{stamp:%Y-%m-%dT%H:%M:%SZ},{bar.open!r},{bar.high!r},{bar.low!r},"
                f"{bar.close!r},{bar.volume!r}\n"
            )
    return path


def kline_file(tmp_path: Path, *, hours_after: int = 6, name: str = "klines.csv") -> Path:
    """Eight days of seed 7's path before ``START`` and ``hours_after`` hours after it."""
    begin = START - 8 * 86_400_000
    return write_klines(
        tmp_path / name, synthetic_bars(SEED, begin, (START - begin) // 60_000 + hours_after * 60)
    )
