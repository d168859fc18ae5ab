import random

import pytest

from marketdata.ratelimit import Backoff, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_a_bucket_allows_its_capacity_at_once_then_paces_at_its_rate():
    time = FakeTime()
    bucket = TokenBucket(200, 200, clock=time.clock, sleep=time.sleep)  # Basic reads
    for _ in range(20):
        await bucket.acquire(10)
    assert time.now == 0.0
    for _ in range(20):
        await bucket.acquire(10)
    # 20 more reads at 20 per second take one second.
    assert time.now == pytest.approx(1.0)


async def test_a_bucket_refills_while_idle_but_never_beyond_capacity():
    time = FakeTime()
    bucket = TokenBucket(100, 200, clock=time.clock, sleep=time.sleep)
    await bucket.acquire(200)
    time.now += 100.0
    assert bucket.tokens == 200
    assert bucket.try_acquire(200)
    assert not bucket.try_acquire(10)


async def test_a_cost_above_capacity_is_refused():
    bucket = TokenBucket(10, 10)
    with pytest.raises(ValueError, match="capacity"):
        await bucket.acquire(11)


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    backoff = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_backoff_floor_keeps_a_loop_from_spinning():
    backoff = Backoff(base_s=0.001, cap_s=0.001, floor_s=0.05, rng=random.Random(2))
    assert all(backoff.next_delay() >= 0.05 for _ in range(10))
