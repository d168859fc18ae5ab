"""Wall-clock ticks for quiet spells on the real exchanges (interfaces.md §4).

"Now" is the latest event time, and the engine's per-second work (time exits, the expiry
guard, breaker roll-overs) runs only when event time crosses a second. On the real
exchanges Coinbase's heartbeats cross one every second; if Coinbase goes quiet, nothing
may (Kalshi's frames without a time of their own are dated by the latest event time), and a
held position could sit past its time exit or into settlement. ``QuietTicker`` watches the
feed's latest event time: once no event has advanced it for ``quiet_ms`` of wall time, it
feeds a ``ClockTick`` at each whole wall second, until an event advances "now" again. A
tick is never at or before the latest event time (that would carry nothing new).

Only where event time is wall time. The simulator's heartbeats carry simulated time (60x in
the demo, a start in the past), where a wall-clock tick would jump the market's clock:
``KBTC_WALL_CLOCK_TICKS`` (``settings.KBTC["WALL_CLOCK_TICKS"]``) decides, and is off
whenever the feeds point at the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from marketdata.model.events import ClockTick, EventSink
from marketdata.wsfeed import wall_ms


class QuietTicker:
    def __init__(
        self,
        *,
        now: Callable[[], int | None],
        deliver: EventSink,
        clock_ms: Callable[[], int] = wall_ms,
        quiet_ms: int = 1000,
        poll_s: float = 0.1,
    ) -> None:
        self.now = now  # the stream's latest event time (None: no event yet)
        self.deliver = deliver
        self.clock_ms = clock_ms
        self.quiet_ms = quiet_ms
        self.poll_s = poll_s
        self.injected = 0
        self._seen: int | None = None  # "now" at the last look
        self._advanced_at = 0  # wall ms when an event (not one of ours) last advanced it

    def check(self) -> bool:
        """One look at the stream; feed a tick if it has been quiet. True if one was fed."""
        wall = self.clock_ms()
        latest = self.now()
        if latest is None:
            return False  # no stream clock yet: the first time comes from the exchange
        if latest != self._seen:
            self._seen, self._advanced_at = latest, wall
            return False
        tick_ts = wall - wall % 1000
        if wall - self._advanced_at < self.quiet_ms or tick_ts <= latest:
            return False
        self.deliver(ClockTick(ts=tick_ts, recv_ts=wall))
        self.injected += 1
        self._seen = self.now()  # our own tick: the quiet spell goes on
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
