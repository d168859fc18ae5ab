"""The simulator's network edge: Kalshi REST + WS, Coinbase WS, Binance klines and the
``/sim`` controls on one aiohttp port (interfaces.md §9).

``SimExchange`` can run inside any asyncio loop (``await start()`` / ``await stop()``), so
the embedded demo hosts it beside the web app and the trader. A driver task moves the core
to the clock's time, releases each event once simulated time reaches its ``ts``, folds it
into ``PublicState`` and fans out frames to every connection's outbox (the WebSocket
connections and their fault-applying writers are ``sockets``).

Orders (``orders``, ``matching``) are processed at the core's frontier: the core computes a
whole simulated second at once, so before an order is matched every event it has already
computed (at most the rest of the current second) is released. The book an order meets is
then exactly the book every client has been sent, and its events follow in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from typing import Any

from aiohttp import web

from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    PublicTrade,
    Side,
    SpotTicker,
    SpotTrade,
)
from marketdata.settled import SettledMarkets
from marketdata.sim.auth import KEY_ID, AuthError, KeyRegistry, has_auth_headers
from marketdata.sim.clearing import Clearing
from marketdata.sim.clock import SimClock
from marketdata.sim.coinbase import CoinbaseSession, DayStats, ticker_payload, trade_payload
from marketdata.sim.core import SimCore
from marketdata.sim.faults import FaultConfig, FaultDice
from marketdata.sim.kalshi_ws import KalshiSession
from marketdata.sim.klines import KlineError, klines
from marketdata.sim.ledger import AccountEvent
from marketdata.sim.matching import MatchingEngine
from marketdata.sim.order_faults import order_faults
from marketdata.sim.orders import routes as order_routes
from marketdata.sim.prices import MINUTE_MS, PriceHistory
from marketdata.sim.rest import PREFIX, error, routes
from marketdata.sim.server_watch import Watcher, request_watch
from marketdata.sim.sockets import Outbox, coinbase_ws, kalshi_ws
from marketdata.sim.state import PublicState
from marketdata.sim.stream import history_for

log = logging.getLogger(__name__)
WS_PATH = "/trade-api/ws/v2"


class SimExchange:
    def __init__(
        self,
        *,
        seed: int = 1,
        start_ms: int,
        speed: float = 1.0,
        stepped: bool = False,
        history: str | PriceHistory | None = None,
        days: int = 7,
        faults: FaultConfig | None = None,
        keys: KeyRegistry | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval_s: float = 10.0,
        opening_balance_cents: int = 100_000,
        settled: SettledMarkets | None = None,
        spread: str = "real",
        historical_days: float | None = None,
    ) -> None:
        self.seed = seed
        # Kalshi moves markets settled before a cutoff to /historical/markets; None keeps
        # every settled market in the live listing.
        self.historical_days = historical_days
        self.clock = SimClock(start_ms, speed=speed, stepped=stepped)
        self.core = SimCore(
            seed=seed,
            start_ts=start_ms,
            history=history_for(seed, start_ms, days * 1440, history),
            settled=settled,
            spread=spread,
        )
        self.state = PublicState()
        self.faults = faults or FaultConfig()
        self.keys = keys or KeyRegistry()
        self.host, self.port = host, port
        self.ping_interval_s = ping_interval_s
        # What an orderbook subscribe without ``use_yes_price`` gets; Kalshi says its default
        # "will flip to true" (protocols §2.3), so tests can flip it here.
        self.use_yes_price_default = False
        self.opening_balance_cents = opening_balance_cents
        self.clearing = Clearing(opening_balance_micros=opening_balance_cents * 10_000)
        self.engine = MatchingEngine(self.core, self.clearing, seed=seed)
        self.rest_dice = FaultDice(self.faults, f"{seed}:rest")
        self.order_dice = FaultDice(self.faults, f"{seed}:orders")
        self.pending: deque[Event | AccountEvent] = deque()
        self.released_until = start_ms
        # Minute open times the Binance endpoint has no bar for (tests of its data gaps).
        self.binance_missing: set[int] = set()
        self.kalshi: dict[Outbox, KalshiSession] = {}
        self.coinbase: dict[Outbox, CoinbaseSession] = {}
        self.spot_trades: deque[dict[str, Any]] = deque(maxlen=50)
        self.connection_ids = itertools.count(1)
        self.started_wall = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._day: tuple[int, DayStats] | None = None
        # Sees every authenticated Kalshi request first (``server_watch``; the chaos harness).
        self.watch: Watcher | None = None
        for event in self.core.initial_events():
            self._release(event)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(
            middlewares=[
                self._kalshi_auth,
                request_watch(self),
                self._rest_faults,
                order_faults(self),
            ]
        )
        app.add_routes(routes(self))
        app.add_routes(order_routes(self))
        app.add_routes(
            [
                web.get(WS_PATH, kalshi_ws(self)),
                web.get("/coinbase", coinbase_ws(self)),
                web.get("/binance/api/v3/klines", self._klines),
                web.get("/binance/api/v3/time", self._binance_time),
                web.get("/sim/faults", self._get_faults),
                web.post("/sim/faults", self._post_faults),
                web.get("/sim/clock", self._get_clock),
                web.post("/sim/clock", self._post_clock),
            ]
        )
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        self._tasks = [asyncio.create_task(self._drive()), asyncio.create_task(self._wall_beats())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for outbox in [*self.kalshi, *self.coinbase]:
            with contextlib.suppress(Exception):
                await outbox.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the driver ----------------------------------------------------------------------

    async def _drive(self) -> None:
        while True:
            now = min(self.clock.now(), self.core.end_ts() - 1)
            self._compute(now)
            while self.pending and self.pending[0].ts <= now:
                self._release(self.pending.popleft())
            self.released_until = max(self.released_until, now)
            if self.clock.stepped:
                self.clock.released.set()
                await self.clock.changed.wait()
                self.clock.changed.clear()
            else:
                await asyncio.sleep(0.005)

    def _compute(self, now: int) -> None:
        """Step the core through ``now``; fills it makes for accounts join in time order."""
        while self.core.second * 1000 <= now:
            events: list[Event | AccountEvent] = list(self.core.step())
            if self.clearing.outbox:
                events = sorted([*events, *self.clearing.outbox], key=lambda e: e.ts)  # stable
                self.clearing.outbox.clear()
            self.pending.extend(events)

    def order_time(self) -> int:
        """Bring every feed up to the core's frontier; the time an order is processed at."""
        self._compute(min(self.clock.now(), self.core.end_ts() - 1))
        while self.pending:
            event = self.pending.popleft()
            self.released_until = max(self.released_until, event.ts)
            self._release(event)
        return self.released_until

    def publish(self, events: list[Event]) -> None:
        """Release an order's market events, then the account notifications it caused."""
        for event in events:
            self._release(event)
        self._release_account()

    def _release_account(self) -> None:
        notes, self.clearing.outbox = self.clearing.outbox, []
        for note in notes:
            self._release(note)

    def _release(self, event: Event | AccountEvent) -> None:
        if isinstance(event, AccountEvent):
            for outbox, session in self.kalshi.items():
                outbox.put(session.on_account(event))
            return
        if isinstance(event, BookSnapshot):
            # A market opening: subscribers see it as deltas onto the book they hold.
            old_yes, old_no = self.state.book(event.ticker).snapshot_levels()
            changes = _diff("yes", event, old_yes, event.yes) + _diff("no", event, old_no, event.no)
            for delta in changes:
                self._release(delta)
            return
        changed = self.state.apply(event)
        owner = None
        if isinstance(event, BookDelta) and event.client_order_id:
            owner = self.engine.owner_of(event.ticker, event.client_order_id)
        for outbox, session in self.kalshi.items():
            frames: list[dict[str, Any]] = []
            if isinstance(event, BookDelta):
                frames += session.on_delta(event, owner)
            elif isinstance(event, PublicTrade):
                frames += session.on_trade(event)
            elif isinstance(event, MarketStatus):
                market = self.core.schedule.market(event.open_ts)
                frames += session.on_status(event, market.event_ticker)
            if changed is not None:
                frames += session.on_ticker(changed, event.ts)
            outbox.put(frames)
        if isinstance(event, MarketStatus) and event.status == "determined":
            market = self.core.schedule.market(event.open_ts)
            log.info(
                "market %s determined %s (settlement source %s, strike %.2f)",
                market.ticker,
                market.result,
                market.source,
                market.strike,
            )
        if isinstance(event, MarketStatus) and event.status == "finalized" and event.result:
            market = self.core.schedule.market(event.open_ts)
            self.clearing.settle(event.ticker, market.event_ticker, event.result, event.ts)
            self._release_account()
        self._release_spot(event)

    def _release_spot(self, event: Event) -> None:
        if isinstance(event, SpotTrade):
            previous = self.state.spot.price if self.state.spot is not None else event.price
            # ``side`` as the taker's (an uptick is a buyer lifting the offer): whether Coinbase
            # means taker or maker is open (protocols §7 point 14); no client reads it.
            payload = trade_payload(event, "BUY" if event.price >= previous else "SELL")
            self.spot_trades.appendleft(payload)
            for outbox, cb in self.coinbase.items():
                outbox.put(cb.on_trade(payload, event.ts))
        elif isinstance(event, SpotTicker):
            payload = ticker_payload(event, self.day_stats(event.ts))
            for outbox, cb in self.coinbase.items():
                outbox.put(cb.on_ticker(payload, event.ts))
        elif isinstance(event, ClockTick):
            uptime = time.monotonic() - self.started_wall
            for outbox, cb in self.coinbase.items():
                outbox.put(cb.heartbeat(event.ts, uptime))
                cb.last_wall = time.monotonic()

    def day_stats(self, ts: int) -> DayStats:
        minute = ts - ts % MINUTE_MS
        if self._day is None or self._day[0] != minute:
            history = self.core.path.history
            day = history.range(minute - 1440 * MINUTE_MS, minute) or [history.bar(minute)]
            year = history.range(minute - 365 * 1440 * MINUTE_MS, minute) or day
            stats = DayStats(
                open_24h=day[0].open,
                high_24h=max(b.high for b in day),
                low_24h=min(b.low for b in day),
                volume_24h=sum(b.volume for b in day),
                high_52w=max(b.high for b in year),
                low_52w=min(b.low for b in year),
            )
            self._day = (minute, stats)
        return self._day[1]

    async def _wall_beats(self) -> None:
        """At least one Coinbase heartbeat per wall second, carrying simulated time."""
        while True:
            await asyncio.sleep(1.0)
            now = self.released_until
            uptime = time.monotonic() - self.started_wall
            for outbox, cb in self.coinbase.items():
                if time.monotonic() - cb.last_wall >= 0.99:
                    outbox.put(cb.heartbeat(now, uptime))
                    cb.last_wall = time.monotonic()

    # --- HTTP plumbing -------------------------------------------------------------------

    @web.middleware
    async def _kalshi_auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path.startswith(PREFIX) or path == WS_PATH:
            private = path.startswith(f"{PREFIX}/portfolio") or path == WS_PATH
            if private or has_auth_headers(request.headers):
                # The path as sent (still percent-encoded), like SDK3 auth.py's
                # ``urlparse(url).path``: aiohttp's ``request.path`` is decoded, and a
                # signature over the decoded text would pass here but not at Kalshi.
                signed = request.raw_path.split("?", 1)[0]
                try:
                    request[KEY_ID] = self.keys.verify(request.headers, request.method, signed)
                except AuthError as exc:
                    return error(401, "authentication_error", str(exc))
        return await handler(request)

    @web.middleware
    async def _rest_faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        rest_read = request.method == "GET" and (
            (request.path.startswith(PREFIX) and request.path != WS_PATH)
            or request.path.startswith("/binance/")
        )
        if rest_read:
            dice = self.rest_dice
            if dice.hit("rest_timeout"):
                await asyncio.sleep(self.faults.rest_timeout_s)
                return web.json_response({"error": "gateway timeout"}, status=504)
            if dice.hit("rest_429"):
                return web.json_response({"error": "too many requests"}, status=429)
            if dice.hit("rest_5xx"):
                status = dice.rng.choice((500, 502, 503))
                return error(status, "internal_server_error", "simulated server error")
            if dice.hit("rest_slow"):
                await asyncio.sleep(self.faults.rest_slow_ms / 1000)
        return await handler(request)

    def historical_cutoff(self) -> int:
        """Markets settled before this (ms) are only in the historical tier."""
        if self.historical_days is None:
            return 0
        cutoff = self.released_until - int(self.historical_days * 86_400_000)
        return cutoff - cutoff % 3_600_000

    async def _klines(self, request: web.Request) -> web.Response:
        try:
            rows = klines(
                self.core.path, dict(request.query), self.released_until, self.binance_missing
            )
        except KlineError as exc:
            return web.json_response(exc.body, status=400)
        return web.json_response(rows)

    async def _binance_time(self, request: web.Request) -> web.Response:
        """Binance ``GET /api/v3/time``: simulated "now", the time its klines are served at."""
        return web.json_response({"serverTime": self.released_until})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.as_dict())

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.faults.update(changes)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.faults.as_dict())

    async def _get_clock(self, request: web.Request) -> web.Response:
        return web.json_response(self.clock.as_dict() | {"released_ms": self.released_until})

    async def _post_clock(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            seconds = float(body["advance_s"])
            await self.clock.advance(seconds)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.clock.as_dict() | {"released_ms": self.released_until})


def _diff(
    side: Side,
    event: BookSnapshot,
    old: tuple[tuple[int, int], ...],
    new: tuple[tuple[int, int], ...],
) -> list[BookDelta]:
    before, after = dict(old), dict(new)
    deltas = []
    for price in sorted(set(before) | set(after)):
        change = after.get(price, 0) - before.get(price, 0)
        if change:
            deltas.append(
                BookDelta(ts=event.ts, ticker=event.ticker, side=side, price=price, delta=change)
            )
    return deltas
