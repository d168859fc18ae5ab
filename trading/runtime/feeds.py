"""Event feeds for the daemon that need no network: the in-process simulator stream.

``sim_stream_feed`` steps the simulator's pure core (``marketdata.sim.core.SimCore``, the
same state machine its server publishes) one simulated second at a time, paced to
``speed`` simulated seconds per wall second, and hands every event to the daemon. The
embedded demo uses it; the network path (Kalshi + Coinbase WS clients against the
simulator server or the real exchanges) plugs in as another ``Feed`` with the same shape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from marketdata.model.events import EventSink
from marketdata.sim.core import SimCore


def sim_stream_feed(
    core: SimCore, *, speed: float
) -> Callable[[EventSink, asyncio.Event], Coroutine[Any, Any, None]]:
    async def run(sink: EventSink, stop: asyncio.Event) -> None:
        for event in core.initial_events():
            sink(event)
        began, simulated = time.monotonic(), 0
        while not stop.is_set() and core.second * 1000 < core.end_ts():
            for event in core.step():
                sink(event)
            simulated += 1
            ahead = simulated / speed - (time.monotonic() - began)
            await asyncio.sleep(max(ahead, 0.0))

    return run
