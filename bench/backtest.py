"""Backtest throughput: one simulated day, one lane, one parameter set, one core.

Two figures, each a whole backtest pass (``backtests.driver.run_pass``: the daemon's session
with the paper venue and the metrics sink) over the same market:

- ``history``: the history source as ``manage.py backtest --source history`` builds it,
  on a kline file of a seeded synthetic path (written to a temporary directory first, so
  the benchmark needs no shared data): the simulator's books, trades and lifecycle are
  generated inside the timed pass;
- ``archive``: the same events read back from daily archive files (written untimed), so
  the timed pass includes reading and decoding the Parquet files.

``events_per_second`` is the history figure (interfaces.md §10 asks every benchmark for one
main figure); ``archive_events_per_second`` the other; ``archive_read_events_per_second``
is reading alone. ``*_per_cpu_second`` divide by the process's CPU time instead of wall
time (on a loaded machine the wall clock counts the wait for a core). Pin to one core:
``taskset -c 1 python bench/run.py backtest``.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from backtests.driver import ParamSet, run_pass
from backtests.sources import history_source
from backtests.tests.helpers import write_klines
from marketdata.archive.store import read_events, write_events
from marketdata.sim.prices import synthetic_history
from marketdata.sim.stream import stream_sha256
from trading.engine.params import DEFAULT_PARAMS

SEED = 20260101
START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTES = 1440
SMOKE_MINUTES = 60
BANKROLL = 1_000_000_000


def _timed_pass(events: Any, warmup: Any, end_ts: int) -> tuple[float, float, int, int]:
    gc.collect()
    cpu_started = time.process_time()
    started = time.perf_counter()
    result = run_pass(
        events,
        [ParamSet("default", DEFAULT_PARAMS)],
        lane="paper",
        bankroll=BANKROLL,
        latency_ms=200,
        warmup=warmup,
        start_ts=START_TS,
        end_ts=end_ts,
        max_gap_ms=120_000,
    )
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return wall, cpu, result.events, len(result.sinks[0].trades)


def run(*, smoke: bool) -> dict[str, Any]:
    minutes = SMOKE_MINUTES if smoke else MINUTES
    end_ts = START_TS + minutes * 60_000
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        begin = START_TS - 7 * 86_400_000
        bars = synthetic_history(SEED, begin, (end_ts - begin) // 60_000 + 180).bars
        source = history_source(
            START_TS, end_ts, history=write_klines(root / "klines.csv", bars), seed=SEED
        )
        history_s, history_cpu, count, trades = _timed_pass(source.events(), source.warmup, end_ts)

        events = list(source.events())
        digest, _ = stream_sha256(events)
        write_events(root / "archive", "bench", events)
        del events
        gc.collect()
        read_started = time.perf_counter()
        read = sum(1 for _ in read_events(root / "archive", "bench"))
        read_s = time.perf_counter() - read_started
        archive_s, archive_cpu, archive_count, archive_trades = _timed_pass(
            read_events(root / "archive", "bench"), source.warmup, end_ts
        )
    if (archive_count, archive_trades) != (count, trades) or read != count:
        raise SystemExit("archive pass saw a different stream than the history pass")
    return {
        "events": count,
        "seconds": round(history_s, 4),
        "stream_sha256": digest,
        "events_per_second": round(count / history_s),
        "archive_seconds": round(archive_s, 4),
        "archive_events_per_second": round(count / archive_s),
        "archive_read_events_per_second": round(count / read_s),
        # CPU time: on a shared, loaded machine wall time includes waiting for the core
        "cpu_seconds": round(history_cpu, 4),
        "events_per_cpu_second": round(count / history_cpu),
        "archive_cpu_seconds": round(archive_cpu, 4),
        "archive_events_per_cpu_second": round(count / archive_cpu),
        "minutes": minutes,
        "lanes": 1,
        "trades": trades,
        "timed": "history: book generation + engine + venue + sink; archive: read + same",
    }
