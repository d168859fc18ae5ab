"""The simulator's WebSocket connections: Kalshi (``server.WS_PATH``) and Coinbase
(``/coinbase``).

Each connection has a session (what it subscribed to, its sequence numbers) and an outbox
the server's driver fills as it releases events; a writer task sends the outbox in order,
applying the WS faults on the way out (delay, reorder, repeat, malformed, drop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from marketdata.sim.auth import KEY_ID
from marketdata.sim.coinbase import CoinbaseSession, DayStats, ticker_payload
from marketdata.sim.core import SimCore
from marketdata.sim.faults import FaultConfig, FaultDice
from marketdata.sim.kalshi_ws import KalshiSession
from marketdata.sim.state import PublicState

Handler = Callable[[web.Request], Awaitable[web.WebSocketResponse]]


@dataclass(eq=False)  # identity-hashed: a dict key per connection
class Outbox:
    """One WS connection's pending frames and its fault dice."""

    ws: web.WebSocketResponse
    request: web.Request
    dice: FaultDice
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    sent: int = 0

    def put(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            self.queue.put_nowait(frame)


class SocketHost(Protocol):
    """What the WebSocket handlers need of the exchange (``server.SimExchange``)."""

    core: SimCore
    state: PublicState
    released_until: int
    seed: int
    faults: FaultConfig
    connection_ids: itertools.count[int]
    kalshi: dict[Outbox, KalshiSession]
    coinbase: dict[Outbox, CoinbaseSession]
    use_yes_price_default: bool
    ping_interval_s: float
    spot_trades: deque[dict[str, Any]]

    def day_stats(self, ts: int) -> DayStats: ...


def kalshi_ws(sim: SocketHost) -> Handler:
    def known_market(ticker: str) -> bool:
        return sim.core.schedule.by_ticker(ticker, sim.released_until) is not None

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        outbox = Outbox(
            ws, request, FaultDice(sim.faults, f"{sim.seed}:k{next(sim.connection_ids)}")
        )
        session = KalshiSession(
            sim.state,
            outbox.dice,
            known_market,
            user_id=request.get(KEY_ID, ""),
            use_yes_price_default=sim.use_yes_price_default,
        )
        sim.kalshi[outbox] = session
        writer = asyncio.create_task(_write(outbox, sim.faults))
        pinger = asyncio.create_task(_ping(ws, sim.ping_interval_s))
        try:
            async for command in _json_messages(ws):
                outbox.put(session.handle(command))
        finally:
            sim.kalshi.pop(outbox, None)
            outbox.queue.put_nowait(None)
            pinger.cancel()
            await asyncio.gather(writer, pinger, return_exceptions=True)
        return ws

    return handler


async def _ping(ws: web.WebSocketResponse, interval_s: float) -> None:
    # Kalshi's keep-alive: protocol pings with payload "heartbeat" every 10 s (§2.2).
    while not ws.closed:
        await asyncio.sleep(interval_s)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.ping(b"heartbeat")


def coinbase_ws(sim: SocketHost) -> Handler:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        outbox = Outbox(
            ws, request, FaultDice(sim.faults, f"{sim.seed}:c{next(sim.connection_ids)}")
        )
        session = CoinbaseSession(outbox.dice)
        session.last_wall = time.monotonic()
        sim.coinbase[outbox] = session
        writer = asyncio.create_task(_write(outbox, sim.faults))
        try:
            async for payload in _json_messages(ws):
                ticker = None
                if sim.state.spot is not None:
                    ticker = ticker_payload(sim.state.spot, sim.day_stats(sim.state.spot.ts))
                outbox.put(
                    session.handle(payload, sim.released_until, ticker, list(sim.spot_trades))
                )
        finally:
            sim.coinbase.pop(outbox, None)
            outbox.queue.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)
        return ws

    return handler


async def _json_messages(ws: web.WebSocketResponse) -> AsyncIterator[Any]:
    """Each text message decoded; one that is not JSON is None (the session answers it)."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            decoded = json.loads(message.data)
        except ValueError:
            decoded = None
        yield decoded


async def _write(outbox: Outbox, faults: FaultConfig) -> None:
    """Send frames in order, applying delay / reorder / repeat / malformed / drop."""
    held: dict[str, Any] | None = None
    dice = outbox.dice
    while True:
        frame = await outbox.queue.get()
        if frame is None:
            return
        if held is None and dice.hit("reorder"):
            held = frame  # goes out after the next frame
            continue
        batch = [frame, held] if held is not None else [frame]
        held = None
        for item in batch:
            if faults.ws_delay_ms:
                await asyncio.sleep(faults.ws_delay_ms / 1000)
            text = json.dumps(item, separators=(",", ":"))
            if dice.hit("malformed"):
                text = text[: len(text) // 2]
            try:
                await outbox.ws.send_str(text)
                if dice.hit("seq_repeat"):
                    await outbox.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            outbox.sent += 1
            if dice.hit("ws_drop"):
                transport = outbox.request.transport
                if transport is not None:
                    transport.abort()  # a network drop: no close frame
                return
