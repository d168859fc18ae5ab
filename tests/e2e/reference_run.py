"""The reference run the e2e tests take their moments from.

The daemon's own session (default parameters, bankroll, paper latency, 60 warm-up candles
before the start) fed the simulator core's events as ``SteppedDaemon`` feeds them, with no
database and no controls touched. Tests read the moments they need (a held position, its
exit, the next entry, a losing exit) from it rather than hard-coding a seed's seconds, so
an engine change that moves entries moves the tests' moments with them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, PositionOpened
from trading.runtime.session import SessionOutput, new_session, paper_venues

from .conftest import BANKROLL, LATENCY, SEED, START

STREAM_MINUTES = 240  # SteppedDaemon's default stream length


@functools.cache
def uninterrupted_run(
    seed: int = SEED, start: int = START, minutes: int = STREAM_MINUTES
) -> tuple[SessionOutput, ...]:
    """Every output of the stream with no control touched: the session the daemon builds
    (default parameters, bankroll, paper latency, 60 warm-up candles before the start) fed
    the simulator core's events as ``SteppedDaemon`` feeds them, with no database (about a
    second for four simulated hours)."""
    history = history_for(seed, start, minutes)
    core = SimCore(seed=seed, start_ts=start, history=history)
    session = new_session(
        DEFAULT_PARAMS,
        lanes=("paper",),
        bankroll=BANKROLL,
        venues=paper_venues(LATENCY),
        warmup=history_candles(history, start, count=60),
    )
    outputs = session.feed_all(core.initial_events())
    while core.second * 1000 < core.end_ts():
        outputs += session.feed_all(core.step())
    return tuple(outputs)


def elapsed_s(ts: int, start: int = START) -> int:
    return (ts - start) // 1000


def entries(outputs: Sequence[SessionOutput]) -> list[PositionOpened]:
    return [o for o in outputs if isinstance(o, PositionOpened)]


def closes(outputs: Sequence[SessionOutput]) -> list[PositionClosed]:
    return [o for o in outputs if isinstance(o, PositionClosed)]
