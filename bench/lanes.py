"""Research lanes over one market pass (issue #14): simulated trading days × lanes per CPU
second (the process's: a loaded machine's waits for a core do not count) for 1, 8 and 64
lanes, each lane with its own lane parameters (a seeded draw), as the tuner runs them:
research lanes without per-second decision records, no market card, every lane on the
shared paper venue. The stream (seed 20260101, from 2026-01-01T00:00Z, on the synthetic
path) is generated before the clock starts; warm-up from its history. Each count reports
the hash of all its lanes' trades (``trade_list_sha256``): a speed change must not move it."""

from __future__ import annotations

import gc
import random
import time
from typing import Any

from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for, stream_sha256
from trading.engine.lane import LaneSpec
from trading.engine.params import DEFAULT_PARAMS, Params
from trading.engine.records import PositionClosed, trade_list_hash
from trading.runtime.session import new_session, paper_venues

SEED = 20260101
START_TS = 1_767_225_600_000
MINUTES, SMOKE_MINUTES = 1440, 60
LANE_COUNTS = (1, 8, 64)


def lane_params(index: int) -> Params:
    """A seeded draw of the parameters a tuner varies (index 0: the defaults)."""
    if index == 0:
        return DEFAULT_PARAMS
    draw = random.Random(index)
    long_threshold = round(draw.uniform(0.55, 0.80), 3)
    return DEFAULT_PARAMS.with_overrides(
        {
            "obi_long_threshold": long_threshold,
            "obi_short_threshold": round(1 - long_threshold, 3),
            "min_hold_s": draw.choice((60, 90, 120, 180, 240)),
            "stop_loss_frac": round(draw.uniform(0.02, 0.20), 3),
            "profit_target_mult": round(draw.uniform(1.0, 3.0), 2),
            "reentry_cooldown_s": draw.choice((0, 30, 60, 120)),
            "roc_max_hold_s": draw.choice((240, 360, 480)),
        }
    )


def run(*, smoke: bool) -> dict[str, Any]:
    minutes = SMOKE_MINUTES if smoke else MINUTES
    history = history_for(SEED, START_TS, minutes)
    events = list(generate_events(SEED, START_TS, minutes, history))
    warmup = history_candles(history, START_TS, count=60)
    digest, count = stream_sha256(events)
    days = minutes / 1440
    gc.collect()
    gc.freeze()
    figures: dict[str, Any] = {}
    seconds = 0.0
    for lanes in LANE_COUNTS:
        specs = [
            LaneSpec(f"r{i}", "research", lane_params(i), decisions=False) for i in range(lanes)
        ]
        session = new_session(
            DEFAULT_PARAMS,
            lanes=specs,
            bankroll=1_000_000_000,
            venues=paper_venues(200),
            warmup=warmup,
            market_snapshots=False,
        )
        started = time.process_time()
        outputs = session.feed_all(events)
        elapsed = time.process_time() - started
        seconds += elapsed
        figures[f"lanes_{lanes}"] = {
            "cpu_seconds": round(elapsed, 2),
            "lane_days_per_second": round(days * lanes / elapsed, 2),
            "trades": sum(isinstance(o, PositionClosed) for o in outputs),
            # every lane's trades: a speed change must leave it where it was
            "trade_list_sha256": trade_list_hash(outputs),
        }
    return {
        "events": count,
        "seconds": round(seconds, 2),
        "stream_sha256": digest,
        "simulated_days": days,
        "lane_days_per_second": {
            str(n): figures[f"lanes_{n}"]["lane_days_per_second"] for n in LANE_COUNTS
        },
        **figures,
    }
