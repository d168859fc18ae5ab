"""Faults on order writes (``/sim/faults``): 429, 5xx, an exchange that hangs, a slow answer,
and a create that is placed but whose answer never arrives (the connection drops)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from marketdata.sim.faults import FaultConfig, FaultDice
from marketdata.sim.orders import LEGACY, V2
from marketdata.sim.rest import error

ORDER_WRITE_PREFIXES = (V2, LEGACY)


class OrderFaultSource(Protocol):
    faults: FaultConfig
    order_dice: FaultDice


def order_faults(sim: OrderFaultSource) -> Any:
    """429 / 5xx / timeout / slow on order writes, and a create whose answer is lost."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if request.method not in ("POST", "DELETE") or not path.startswith(ORDER_WRITE_PREFIXES):
            return await handler(request)
        dice, faults = sim.order_dice, sim.faults
        if dice.hit("order_timeout"):
            await asyncio.sleep(faults.rest_timeout_s)
            return web.json_response({"error": "gateway timeout"}, status=504)
        if dice.hit("order_429"):
            return web.json_response({"error": "too many requests"}, status=429)
        if dice.hit("order_5xx"):
            status = dice.rng.choice((500, 502, 503))
            return error(status, "internal_server_error", "simulated server error")
        if dice.hit("order_slow"):
            await asyncio.sleep(faults.rest_slow_ms / 1000)
        is_create = request.method == "POST" and path in (V2, LEGACY)
        if is_create and dice.hit("order_lost"):
            response = await handler(request)
            if request.transport is not None:
                request.transport.abort()  # placed; the answer never arrives
            return response
        return await handler(request)

    return middleware
