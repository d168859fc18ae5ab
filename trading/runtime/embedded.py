"""Assemble a daemon on the in-process simulator (``run_trader`` and the embedded demo).

The simulated clock starts where the saved session stopped (so a restart continues the
market it left), else at ``KBTC_SIM_START``-less default: now minus a day, rounded to the
minute, inside the history file when ``KBTC_HISTORY`` is set (its last day).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from kbtc_site.db import db_call
from marketdata.recorder import Recorder
from marketdata.sim.core import SimCore
from marketdata.sim.prices import MINUTE_MS
from marketdata.sim.stream import history_for
from trading import selectors
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.feeds import sim_stream_feed
from trading.runtime.warmup import history_candles, table_candles

SIM_MINUTES = 7 * 24 * 60  # how far ahead the simulated market can run


def _saved_now() -> int | None:
    state = selectors.bot_state_get(lane="paper")
    snapshot = state.engine_snapshot if state is not None else None
    return snapshot["engine"]["now"] if snapshot else None


def default_start(history_path: Any) -> int:
    if history_path:
        from marketdata.sim.prices import load_history

        # the last day of the file has a week of history before it for the warm-up
        probe = load_history(history_path, 0, 2**62)
        return probe.last_ts - 2 * 86_400_000 - probe.last_ts % 900_000 + 7 * 60_000
    now = int(time.time() * 1000) - 86_400_000
    return now - now % MINUTE_MS


async def build_sim_daemon(
    *, speed: float | None = None, start_ms: int | None = None, latency_ms: int = 200
) -> Daemon:
    kbtc = settings.KBTC
    seed = kbtc["SIM_SEED"]
    history_path = kbtc["HISTORY"]
    saved = await db_call(_saved_now)()
    if start_ms is None:
        start_ms = (saved // 1000 + 1) * 1000 if saved else default_start(history_path)
    history = history_for(
        seed, start_ms, SIM_MINUTES // 7, str(history_path) if history_path else None
    )
    core = SimCore(seed=seed, start_ts=start_ms, history=history)

    def candles(before_ts: int) -> list[Any]:
        stored = table_candles(before_ts, count=60)
        return stored if len(stored) >= 20 else history_candles(history, before_ts, count=60)

    daemon = Daemon(
        DaemonConfig(latency_ms=latency_ms),
        feeds=[sim_stream_feed(core, speed=speed or kbtc["SIM_SPEED"])],
        candles=candles,
        recorder=Recorder(label="run_trader"),
        start_ts=start_ms,
    )
    await daemon.prepare()
    return daemon
