"""A live lane over real sockets: the simulator (stepped clock), the Kalshi venue on its
REST endpoints, the authenticated fill stream from its WebSocket, and an engine lane of
kind ``live`` that books the venue's reports. No daemon: the test says what the engine
would (an entry order, an exit) and steps simulated time; everything else is the real
code over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async

from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.wire import MarketInfo
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import ClockTick, Event, MarketStatus
from marketdata.ratelimit import Backoff
from marketdata.sim.ledger import Account
from marketdata.sim.testing import SimHandle, running_simulator
from trading.engine.engine import Engine, Output
from trading.engine.intents import ClosePosition, PlaceOrder
from trading.engine.lane import LaneSpec, PendingOrder
from trading.engine.params import Params
from trading.engine.records import PositionClosed, PositionOpened, PositionUpdated
from trading.engine.signals import Direction
from trading.runtime.live import build_live_venue
from trading.runtime.outputs import (
    position_close_write,
    position_open_write,
    position_update_write,
)
from trading.venues.base import VenueReport
from trading.venues.kalshi import KalshiVenue, LiveSettings

START = 1_767_225_600_000 + 2 * 60_000  # 2026-01-01 00:02 UTC, two minutes into a window
BANKROLL = 1_000_000_000


@dataclass
class LiveRig:
    sim: SimHandle
    venue: KalshiVenue
    engine: Engine
    outputs: list[Output | VenueReport] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def account(self) -> Account:
        return self.sim.exchange.clearing.account(self.sim.key_id)

    @property
    def lane(self) -> Any:
        return self.engine.lanes["live"]

    def now(self) -> int:
        return self.sim.now()

    async def market(self) -> MarketInfo:
        """The open market whose window contains now."""
        markets = await self.venue.rest.list_markets(series_ticker="KXBTC15M", status="open")
        now = self.now()
        return next(m for m in markets if m.open_ts <= now < m.close_ts)

    async def best(self, ticker: str) -> tuple[int, int]:
        (bid, _), (ask, _) = await self.top(ticker)
        return bid, ask

    async def top(self, ticker: str) -> tuple[tuple[int, int], tuple[int, int]]:
        """((best YES bid, its size), (best YES ask, its size))."""
        book = await self.venue.rest.get_orderbook(ticker)
        bid = max(book.yes)
        no_bid = max(book.no)
        return (bid[0], bid[1]), (10_000 - no_bid[0], no_bid[1])

    async def roomy_spread(self, ticker: str) -> tuple[int, int]:
        """(best YES bid, best YES ask) once the spread has two cents or more inside it,
        stepping up to two simulated minutes (the maker's quotes move every second)."""
        for _ in range(120):
            bid, ask = await self.best(ticker)
            if ask - bid >= 200:
                break
            await self.step()
        assert ask - bid >= 200, "no spread of two cents or more in two simulated minutes"
        return bid, ask

    def orders_on(self, ticker: str) -> list[Any]:
        """The simulator's orders of this account on ``ticker``."""
        uid = self.sim.key_id
        engine = self.sim.exchange.engine
        return [o for o in engine.orders.values() if o.user_id == uid and o.ticker == ticker]

    def feed(self, event: Event) -> None:
        self.outputs.extend(self.engine.on_event(event))
        self._reports(self.venue.on_event(event))

    def _reports(self, reports: Any) -> None:
        for report in reports:
            self.outputs.append(report)
            self.outputs.extend(self.engine.on_report(report.lane, report.update))

    async def step(self, seconds: int = 1) -> None:
        """Advance simulated time a second at a time; the venue and engine see the account
        frames that arrived, then a clock tick at the new time."""
        for _ in range(seconds):
            await self.sim.advance(1)
            await asyncio.sleep(0.02)  # let the sockets deliver
            events = list(self.events)
            self.events.clear()
            for event in events:
                self.feed(event)
            self.feed(ClockTick(ts=self.now()))
            self._reports(self.venue.execute_due(self.now()))
            await asyncio.sleep(0)

    async def until(self, condition: Callable[[], bool], what: str, limit_s: int = 120) -> None:
        for _ in range(limit_s):
            if condition():
                return
            await self.step()
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            await self.step()
        if not condition():
            raise AssertionError(f"{what}: not after {limit_s} simulated s")

    async def on_exchange(self, client_order_id: str, limit_s: float = 10.0) -> None:
        """Wait (wall time, the simulated clock held) until the exchange has the order."""
        deadline = time.monotonic() + limit_s
        engine = self.sim.exchange.engine
        while not any(o.client_order_id == client_order_id for o in engine.orders.values()):
            if time.monotonic() > deadline:
                raise AssertionError(f"order {client_order_id}: not on the exchange")
            await asyncio.sleep(0.01)

    def idle(self) -> bool:
        return not self.venue.tasks and not self.venue.inbox

    def enter(self, ticker: str, side: str, yes_price: int, count: int = 100) -> PlaceOrder:
        """The engine's entry order, as ``Engine._send_entry`` would make it."""
        coid = self.lane.next_id("kbtc", self.now())
        direction: Direction = "LONG" if side == "yes" else "SHORT"
        self.lane.orders[coid] = PendingOrder(
            coid, "entry", ticker, direction, count, yes_price, self.now()
        )
        intent = PlaceOrder(self.now(), "live", coid, ticker, side, yes_price, count, "test")  # type: ignore[arg-type]
        self.outputs.append(intent)
        self._reports(self.venue.submit(intent))
        return intent

    def exit(self, reason: str) -> ClosePosition:
        intents = self.engine.close_all(reason, "live")
        self.outputs.extend(intents)
        close = next(i for i in intents if isinstance(i, ClosePosition))
        self._reports(self.venue.submit(close))
        return close

    def status(self, market: MarketInfo, phase: str, result: str | None = None) -> MarketStatus:
        return MarketStatus(
            ts=self.now(),
            ticker=market.ticker,
            status=phase,  # type: ignore[arg-type]
            strike=market.strike,
            open_ts=market.open_ts,
            close_ts=market.close_ts,
            result=result,  # type: ignore[arg-type]
        )

    def closed(self) -> list[PositionClosed]:
        return [o for o in self.outputs if isinstance(o, PositionClosed)]

    async def store_trade(self) -> None:
        """The persistence sink's writes for the round trip: open, each update, close."""
        writes = []
        for output in self.outputs:
            if isinstance(output, PositionOpened):
                writes.append(position_open_write(output, None))
            elif isinstance(output, PositionUpdated):
                writes.append(position_update_write(output))
            elif isinstance(output, PositionClosed):
                writes.append(position_close_write(output))
        for write in writes:
            await sync_to_async(write.fn)(**write.kwargs)


async def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def live_rig(
    *, start_ms: int = START, settings: LiveSettings | None = None, **sim_options: Any
) -> AsyncIterator[LiveRig]:
    async with running_simulator(seed=7, start_ms=start_ms, **sim_options) as sim:
        signer = KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
        venue = await build_live_venue(
            api_url=sim.kalshi_api_url,
            signer=signer,
            simulated=True,
            settings=settings,
            start_ms=sim.now(),
        )
        engine = Engine(Params(), [LaneSpec("live", "live")], BANKROLL)
        engine.trade_on_exchange("live", venue.exchange_run)  # as ``Session`` does
        rig = LiveRig(sim, venue, engine)
        ws = KalshiWsClient(
            sim.kalshi_ws_url,
            signer,
            rig.events.append,
            market_channels=(),
            global_channels=(),
            account_channels=("fill",),
            backoff=Backoff(0.05, 0.5),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(ws.run(stop))
        try:
            await wait_for(lambda: ws.stats.connects >= 1, "the fill stream connected")
            await asyncio.sleep(0.2)  # its subscribe acknowledged
            yield rig
        finally:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for used in {id(v): v for v in (venue, rig.venue)}.values():  # a test's restart
                await used.aclose()
                await used.rest.aclose()
