"""Engine throughput: both lanes on a simulator stream of a fixed seed, start and length.

The stream is generated in process before timing (``marketdata.sim.stream``); the timed
part is the engine with the reference replay driver (immediate-or-cancel fills against the
engine's own books), so fills, positions and exits are exercised, not just signals.
Reports ``events_per_second`` (interfaces.md §10) and the trade-list hash of the run.
"""

from __future__ import annotations

import time
from typing import Any

from marketdata.sim.stream import generate_events, stream_sha256
from trading.engine.engine import Engine
from trading.engine.harness import ReplayDriver
from trading.engine.params import Params
from trading.engine.records import PositionClosed, trade_list_hash

SEED = 20260101
START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTES = 480
SMOKE_MINUTES = 30
ROUNDS = 3  # best of: the figure is the machine's capacity, not its noise


def run(*, smoke: bool) -> dict[str, Any]:
    minutes = SMOKE_MINUTES if smoke else MINUTES
    events = list(generate_events(SEED, START_TS, minutes))
    digest, count = stream_sha256(events)
    best = float("inf")
    outputs: list[Any] = []
    for _ in range(1 if smoke else ROUNDS):
        driver = ReplayDriver(Engine(Params(), lanes=("paper", "live")))
        started = time.perf_counter()
        outputs = driver.run(events)
        best = min(best, time.perf_counter() - started)
    return {
        "events": count,
        "seconds": round(best, 4),
        "stream_sha256": digest,
        "events_per_second": round(count / best),
        "minutes": minutes,
        "trades": sum(1 for o in outputs if isinstance(o, PositionClosed)),
        "trade_list_sha256": trade_list_hash(outputs),
    }
