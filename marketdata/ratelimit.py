"""Client-side pacing: token buckets for Kalshi's rate tiers and jittered exponential backoff.

Kalshi meters requests in tokens per second, separately for reads and writes
(exchange-protocols.md §1.6): Basic is 200 read and 100 write tokens a second with a default
cost of 10 tokens per request (20 reads/s, 10 writes/s); the write bucket holds two seconds
of budget. Staying under the bucket ourselves means a 429 is the exchange's surprise, not
our habit.

Both classes take their clock, sleep and random source as arguments so tests can drive
them without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

DEFAULT_COST = 10  # tokens per request unless an endpoint is cheaper
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RateTier:
    """Tokens per second and bucket capacity for reads and writes."""

    name: str
    read_per_s: float
    write_per_s: float
    read_capacity: float
    write_capacity: float


BASIC = RateTier("basic", 200, 100, 200, 200)
ADVANCED = RateTier("advanced", 300, 300, 300, 600)
PREMIER = RateTier("premier", 1000, 1000, 1000, 2000)


class TokenBucket:
    """A refilling bucket; ``acquire`` waits until ``cost`` tokens are available.

    Waiters are served in arrival order (one lock), so a burst of reads cannot starve a
    single later request forever.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # total time spent waiting, for the health panel

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def try_acquire(self, cost: float = DEFAULT_COST) -> bool:
        self._refill()
        if self._tokens >= cost - _EPSILON:
            self._tokens = max(0.0, self._tokens - cost)
            return True
        return False

    async def acquire(self, cost: float = DEFAULT_COST) -> None:
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds bucket capacity {self.capacity}")
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= cost - _EPSILON:
                    self._tokens = max(0.0, self._tokens - cost)
                    return
                # A floor on the wait: float dust must not turn into a zero-length spin.
                wait = max((cost - self._tokens) / self.rate_per_s, 1e-4)
                self.waited_s += wait
                await self._sleep(wait)


class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits ``uniform(0, min(cap, base·2ⁿ))``.

    Full jitter keeps a fleet of reconnecting clients from arriving in lock-step after an
    outage; ``floor`` keeps a reconnect loop from spinning at zero delay.
    """

    def __init__(
        self,
        base_s: float = 0.5,
        cap_s: float = 60.0,
        *,
        floor_s: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.floor_s = floor_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * (2 ** min(attempt, 32)))

    def next_delay(self) -> float:
        delay = max(self.floor_s, self._rng.uniform(0, self.ceiling(self.attempt)))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
