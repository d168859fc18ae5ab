"""Where ``run_trader`` starts "now": the simulator's clock when Kalshi is on loopback (a
simulator replaying the past), the wall clock for the real exchange; a loopback exchange
without a simulator clock stops the start instead of guessing (issue #15, item 6)."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from marketdata.sim.testing import running_simulator
from trading.management.commands.run_trader import market_start_ms

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC: months before the wall clock


async def test_the_start_is_the_simulators_clock_on_loopback_and_none_elsewhere():
    async with running_simulator(start_ms=START) as sim:
        assert await market_start_ms(sim.kalshi_api_url) == sim.now() == START
    assert await market_start_ms("https://external-api.kalshi.com/trade-api/v2") is None


async def test_a_loopback_exchange_without_a_simulator_clock_stops_the_start():
    with pytest.raises(CommandError, match=r"/sim/clock\) did not answer.*--start-ms"):
        await market_start_ms("http://127.0.0.1:9/trade-api/v2")
