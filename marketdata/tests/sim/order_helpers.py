"""Signed raw requests to the simulator's order endpoints, and a quiet book to trade on."""

from __future__ import annotations

from typing import Any

import aiohttp

from marketdata.sim.testing import SimHandle

PREFIX = "/trade-api/v2"


async def call(
    sim: SimHandle, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A signed request; returns (status, JSON body)."""
    async with aiohttp.ClientSession() as session:
        headers = sim.sign(method, PREFIX + path)
        async with session.request(
            method, sim.base_url + PREFIX + path, json=body, params=query, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)


async def quiet(sim: SimHandle, seconds: int = 1) -> str:
    """Advance whole seconds and stop at the last ms of one: every event the core computed
    is released, so the REST/WS book is exactly the book orders meet. Returns the open ticker."""
    now = sim.clock.now()
    target = now - now % 1000 + seconds * 1000 - 1
    await sim.advance((target - now + 0.5) / 1000)
    market = sim.exchange.core.active
    assert market is not None
    assert not sim.exchange.pending
    return market.ticker


def v2(ticker: str, side: str, price: str, count: str, tif: str, coid: str) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "side": side,
        "price": price,
        "count": count,
        "time_in_force": tif,
        "client_order_id": coid,
        "self_trade_prevention_type": "taker_at_cross",
    }
