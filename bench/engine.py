"""Engine throughput: both lanes on a simulator stream of a fixed seed, start and length.

The stream is generated in process before timing (``marketdata.sim.stream``). The timed part
is ``Session(Engine(Params(), lanes=("paper", "live")), PaperVenue(0)).feed_all(events)``:
the engine, the paper venue (its own books, immediate-or-cancel depth walks and fees) and
the session driver (clock ticks, due fills, fill reports back to the engine), which is the
daemon's own path minus its I/O (feeds, recorder, writer). Fills, positions and exits are
exercised, not just signals. Each round builds a fresh session.

Reports ``events_per_second`` (interfaces.md §10) of the best round by wall clock, the
median round too, and the process CPU time of the best round (``cpu_seconds``: on a
loaded machine wall time includes waiting for the core, CPU time does not). Run it pinned
to one core for the one-core figure: ``taskset -c 0 python bench/run.py engine``.
``trade_list_sha256`` and ``outputs`` (the session's outputs: the engine's intents and
records plus the venue's execution reports) let runs on different code be compared: equal
hashes, equal trading.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from marketdata.sim.stream import generate_events, stream_sha256
from trading.engine.engine import Engine
from trading.engine.params import Params
from trading.engine.records import PositionClosed, trade_list_hash
from trading.runtime.session import Session
from trading.venues.paper import PaperVenue

SEED = 20260101
START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTES = 480
SMOKE_MINUTES = 30
ROUNDS = 3  # best of: the figure is the machine's capacity, not its noise


def run(*, smoke: bool) -> dict[str, Any]:
    minutes = SMOKE_MINUTES if smoke else MINUTES
    events = list(generate_events(SEED, START_TS, minutes))
    digest, count = stream_sha256(events)
    # As the daemon does after start-up: long-lived objects (here the pre-generated stream)
    # leave the collector's generations, so the timing is the engine's, not the collector
    # re-scanning the input.
    gc.collect()
    gc.freeze()
    rounds: list[tuple[float, float]] = []  # (wall, cpu)
    outputs: list[Any] = []
    for _ in range(1 if smoke else ROUNDS):
        venue = PaperVenue(0)
        session = Session(
            Engine(Params(), lanes=("paper", "live")), {"paper": venue, "live": venue}
        )
        cpu_started = time.process_time()
        started = time.perf_counter()
        outputs = session.feed_all(events)
        rounds.append((time.perf_counter() - started, time.process_time() - cpu_started))
    best, best_cpu = min(rounds)
    median = statistics.median(wall for wall, _ in rounds)
    return {
        "events": count,
        "seconds": round(best, 4),
        "stream_sha256": digest,
        "events_per_second": round(count / best),
        "median_seconds": round(median, 4),
        "median_events_per_second": round(count / median),
        "cpu_seconds": round(best_cpu, 4),
        "rounds": len(rounds),
        "minutes": minutes,
        "lanes": 2,
        "timed": "engine + paper venue + session driver (stream pre-generated)",
        "outputs": len(outputs),
        "trades": sum(1 for o in outputs if isinstance(o, PositionClosed)),
        "trade_list_sha256": trade_list_hash(outputs),
    }
