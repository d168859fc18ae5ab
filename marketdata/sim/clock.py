"""Simulated time for the server.

Two modes:

- **realtime**: ``now = start + (monotonic - t0) * speed``; the server's driver wakes every
  few wall milliseconds and releases every event whose ``ts`` has been reached. ``speed`` 1
  is live pace, 60 is an hour a minute.
- **stepped** (tests, the in-process fixture): time stands still until ``advance(seconds)``
  moves it; the call returns once every event up to the new time has been released to the
  feeds, so a test can step and then read the frames it expects.

Signatures never use this clock; they use wall time like a real client (interfaces.md §4).
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    def __init__(self, start_ms: int, *, speed: float = 1.0, stepped: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_ms = start_ms
        self.speed = speed
        self.stepped = stepped
        self._t0 = time.monotonic()
        self._stepped_now = start_ms
        self.changed = asyncio.Event()  # set when a stepped advance wants the driver
        self.released = asyncio.Event()  # set by the driver once it caught up

    def now(self) -> int:
        if self.stepped:
            return self._stepped_now
        return self.start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    async def advance(self, seconds: float) -> int:
        """Stepped mode: move time forward and wait until the feeds have caught up."""
        if not self.stepped:
            raise RuntimeError("advance() needs a stepped clock")
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._stepped_now += int(seconds * 1000)
        self.released.clear()
        self.changed.set()
        await self.released.wait()
        return self._stepped_now

    def as_dict(self) -> dict[str, object]:
        from marketdata.sim.wire import iso

        now = self.now()
        return {
            "now_ms": now,
            "now": iso(now),
            "start_ms": self.start_ms,
            "speed": self.speed,
            "mode": "stepped" if self.stepped else "realtime",
        }
