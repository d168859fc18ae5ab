"""A watcher of the simulator's authenticated Kalshi requests (``SimExchange.watch``): the
chaos harness kills the trader at the moment its order or its reconciliation reaches the
exchange. The watcher gets the request (its body readable) and the account's key id; it
returns True to drop the request unanswered and unprocessed (as if the process died before
sending it), False to let the exchange handle it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from marketdata.sim.auth import KEY_ID

Watcher = Callable[[web.Request, str], Awaitable[bool]]


class WatchHost(Protocol):
    watch: Watcher | None


def request_watch(sim: WatchHost) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        user = request.get(KEY_ID)
        if sim.watch is not None and user and await sim.watch(request, user):
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)  # never reaches the (dead) client
        return await handler(request)

    return middleware
