"""A scripted Kalshi exchange on 127.0.0.1 for the incident replays (domain.md §3.19).

The original's replay suite drove its position manager against a fake exchange whose
answers were a script: the positions it lists (stale ones included, as Kalshi's ledger
lags fills and settlements), market statuses and results, a "every position query fails"
switch, resting orders, what a created order fills. This is that script served over HTTP
on Kalshi's real paths, so the venue's real REST client, signing and parsing run; nothing
of our own code is replaced. ``ScriptRig`` puts a live lane on it: the Kalshi venue (on a
clock the test steps), its reconciler, and an engine lane of kind ``live`` booking the
venue's reports.

The simulator (``marketdata.sim``) is the exchange for everything a real ledger must get
right (see ``test_live_reconcile_sim``); the script is for the states a real ledger only
reaches by lagging: a position still listed after it settled or was sold.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.events import Event, MarketStatus
from marketdata.model.units import PRICE_MAX, format_dollars, format_fp
from marketdata.ratelimit import TokenBucket
from marketdata.sim.account_wire import money
from marketdata.sim.auth import generate_key_pair
from trading.engine.engine import Engine, Output
from trading.engine.intents import ClosePosition, PlaceOrder
from trading.engine.lane import LaneSpec, PendingOrder
from trading.engine.params import Params
from trading.engine.records import PositionClosed
from trading.venues.base import VenueReport
from trading.venues.kalshi import KalshiVenue, LiveSettings
from trading.venues.live_position import PositionManagerState
from trading.venues.reconcile import Reconciler

PREFIX = "/trade-api/v2"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
WINDOW = 15 * 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ticker_at(k: int) -> str:
    """The KXBTC15M-style ticker of the ``k``-th window after ``T0``."""
    close = datetime.fromtimestamp((T0 + (k + 1) * WINDOW) / 1000, tz=UTC)
    return f"KXBTC15M-{close:%y%b%d%H%M}".upper() + "-00"


@dataclass
class ScriptedPosition:
    signed: int  # hundredths, + YES, − NO
    cost: int = 0  # micro-dollars
    fees: int = 0


@dataclass
class ScriptedMarket:
    status: str = "active"
    result: str = ""
    open_ts: int = T0
    close_ts: int = T0 + WINDOW
    yes_bids: list[tuple[int, int]] = field(default_factory=list)  # (price, count)
    no_bids: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Script:
    """What the exchange answers. Tests change it between steps."""

    positions: dict[str, ScriptedPosition] = field(default_factory=dict)
    positions_fail: bool = False  # every position query answers 500
    markets: dict[str, ScriptedMarket] = field(default_factory=dict)
    resting: list[dict[str, Any]] = field(default_factory=list)  # orders from a past run
    cancel_404: set[str] = field(default_factory=set)  # order ids already terminal
    balance_cents: int = 100_000
    # A created order's fill: (ticker, side, action, yes_price, count) → hundredths filled
    # (default all), at the order's price; a fill moves ``positions`` like a ledger.
    fill: Callable[[str, str, str, int, int], int] | None = None
    create_status: int = 201  # another status refuses every create (409: market closed)
    follow_fills: bool = True  # False: the positions list lags (stale) and does not move
    silent_fill: int = 0  # hundredths a create fills while its answer says none filled
    # Called with the ticker after a market read is answered (the exchange moves on then)
    after_market_read: Callable[[str], None] | None = None
    # what the exchange saw
    created: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    position_reads: int = 0


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _market_json(ticker: str, m: ScriptedMarket) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "event_ticker": ticker.rsplit("-", 1)[0],
        "market_type": "binary",
        "status": m.status,
        "result": m.result,
        "open_time": iso(m.open_ts),
        "close_time": iso(m.close_ts),
        "floor_strike": 90000.0,
    }


def _app(script: Script, now: Callable[[], int]) -> web.Application:
    ids = itertools.count(1)

    async def positions(request: web.Request) -> web.Response:
        script.position_reads += 1
        if script.positions_fail:
            return _error(500, "internal_server_error", "scripted position failure")
        ticker = request.query.get("ticker")
        only_held = "position" in (request.query.get("count_filter") or "")
        rows = []
        for name, p in sorted(script.positions.items()):
            if (ticker and name != ticker) or (only_held and not p.signed):
                continue
            rows.append(
                {
                    "ticker": name,
                    "exchange_index": 0,
                    "total_traded_dollars": money(p.cost),
                    "position_fp": format_fp(p.signed),
                    "market_exposure_dollars": money(p.cost),
                    "realized_pnl_dollars": "0.0000",
                    "fees_paid_dollars": money(p.fees),
                    "last_updated_ts": iso(now()),
                }
            )
        return web.json_response({"market_positions": rows, "event_positions": [], "cursor": ""})

    async def market(request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        found = script.markets.get(ticker)
        if found is None:
            return _error(404, "not_found", "market not found")
        answer = web.json_response({"market": _market_json(ticker, found)})
        if script.after_market_read is not None:
            script.after_market_read(ticker)
        return answer

    async def orderbook(request: web.Request) -> web.Response:
        found = script.markets.get(request.match_info["ticker"])
        if found is None:
            return _error(404, "not_found", "market not found")
        book = {
            "yes_dollars": [[format_dollars(p), format_fp(c)] for p, c in sorted(found.yes_bids)],
            "no_dollars": [[format_dollars(p), format_fp(c)] for p, c in sorted(found.no_bids)],
        }
        return web.json_response({"orderbook_fp": book})

    async def orders(request: web.Request) -> web.Response:
        status = request.query.get("status")
        ticker = request.query.get("ticker")
        rows = [
            o
            for o in script.resting + script.created
            if (not status or o["status"] == status) and (not ticker or o["ticker"] == ticker)
        ]
        return web.json_response({"orders": rows, "cursor": ""})

    async def cancel(request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        if order_id in script.cancel_404:
            return _error(404, "not_found", "order not found")
        for order in script.resting:
            if order["order_id"] == order_id and order["status"] == "resting":
                reduced = order["remaining_count_fp"]
                order["status"], order["remaining_count_fp"] = "canceled", "0.00"
                script.cancelled.append(order_id)
                body = {"order_id": order_id, "client_order_id": order["client_order_id"]}
                return web.json_response(body | {"reduced_by": reduced, "ts_ms": now()})
        return _error(404, "not_found", "order not found")

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        if script.create_status != 201:
            return _error(script.create_status, "market_closed", "scripted refusal")
        ticker, count = body["ticker"], round(float(body["count"]) * 100)
        yes_price = round(float(body["price"]) * PRICE_MAX)
        book_side = body["side"]
        side, action = _side_action(book_side, body.get("reduce_only", False), script, ticker)
        filled = (
            count if script.fill is None else script.fill(ticker, side, action, yes_price, count)
        )
        order_id = f"scripted-{next(ids)}"
        premium = yes_price if side == "yes" else PRICE_MAX - yes_price
        order = {
            "order_id": order_id,
            "client_order_id": body["client_order_id"],
            "ticker": ticker,
            "side": side,
            "action": action,
            "status": "executed" if filled else "canceled",
            "yes_price_dollars": format_dollars(yes_price),
            "fill_count_fp": format_fp(filled),
            "remaining_count_fp": "0.00",
            "initial_count_fp": format_fp(count),
            "created_time": iso(now()),
        }
        script.created.append(order)
        if filled:
            script.fills.append(
                {
                    "fill_id": f"{order_id}-f",
                    "trade_id": f"{order_id}-f",
                    "order_id": order_id,
                    "ticker": ticker,
                    "side": side,
                    "action": action,
                    "yes_price_dollars": format_dollars(yes_price),
                    "count_fp": format_fp(filled),
                    "fee_cost": "0.0000",
                    "is_taker": True,
                    "created_time": iso(now()),
                }
            )
            if script.follow_fills:
                held = script.positions.setdefault(ticker, ScriptedPosition(0))
                sign = 1 if side == "yes" else -1
                if action == "buy":
                    held.signed += sign * filled
                    held.cost += premium * filled
                else:
                    before = abs(held.signed)
                    held.signed -= sign * filled
                    held.cost = held.cost * abs(held.signed) // before if before else 0
        if script.silent_fill and action == "buy":
            held = script.positions.setdefault(ticker, ScriptedPosition(0))
            held.signed += script.silent_fill if side == "yes" else -script.silent_fill
            held.cost += premium * script.silent_fill
        avg = "" if not filled else f"{yes_price / PRICE_MAX:.6f}"
        created = {
            "order_id": order_id,
            "client_order_id": body["client_order_id"],
            "fill_count": format_fp(filled),
            "remaining_count": "0.00",
            "average_fill_price": avg,
            "average_fee_paid": "0.000000" if filled else "",
            "ts_ms": now(),
        }
        return web.json_response(created, status=201)

    async def fills(request: web.Request) -> web.Response:
        order_id = request.query.get("order_id")
        rows = [f for f in script.fills if not order_id or f["order_id"] == order_id]
        return web.json_response({"fills": rows, "cursor": ""})

    async def balance(request: web.Request) -> web.Response:
        return web.json_response({"balance": script.balance_cents, "portfolio_value": 0})

    app = web.Application()
    app.add_routes(
        [
            web.get(f"{PREFIX}/portfolio/positions", positions),
            web.get(f"{PREFIX}/markets/{{ticker}}", market),
            web.get(f"{PREFIX}/markets/{{ticker}}/orderbook", orderbook),
            web.get(f"{PREFIX}/portfolio/orders", orders),
            web.delete(f"{PREFIX}/portfolio/events/orders/{{order_id}}", cancel),
            web.post(f"{PREFIX}/portfolio/events/orders", create),
            web.get(f"{PREFIX}/portfolio/fills", fills),
            web.get(f"{PREFIX}/portfolio/balance", balance),
        ]
    )
    return app


def _side_action(book_side: str, reduce_only: bool, script: Script, ticker: str) -> tuple[str, str]:
    """V2 orders say only bid/ask; a reduce-only one sells the side held."""
    if reduce_only:
        held = script.positions.get(ticker)
        long = held is None or held.signed >= 0
        return ("yes", "sell") if long else ("no", "sell")
    return ("yes", "buy") if book_side == "bid" else ("no", "buy")


class StepClock:
    """The venue's clock in a replay: "now" moves only when the test or a wait moves it;
    a wait of ``s`` seconds moves it ``s`` seconds (the venue's ledger lag, backoffs)."""

    def __init__(self, now: int) -> None:
        self._now = now

    def now_ms(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self._now += max(0, int(seconds * 1000))
        await asyncio.sleep(0)

    async def backoff(self, seconds: float) -> None:
        await self.sleep(seconds)

    def advance(self, ts: int) -> None:
        self._now = max(self._now, ts)

    def forward(self, seconds: float) -> None:
        self._now += int(seconds * 1000)


@dataclass
class ScriptRig:
    script: Script
    url: str
    clock: StepClock
    venue: KalshiVenue
    reconciler: Reconciler
    engine: Engine
    saved: list[dict[str, Any]]
    outputs: list[Output | VenueReport] = field(default_factory=list)

    @property
    def state(self) -> PositionManagerState:
        return self.venue.state

    def now(self) -> int:
        return self.clock.now_ms()

    def feed(self, event: Event) -> None:
        self.outputs.extend(self.engine.on_event(event))
        self._reports(self.venue.on_event(event))

    def _reports(self, reports: Any) -> None:
        for report in reports:
            self.outputs.append(report)
            self.outputs.extend(self.engine.on_report(report.lane, report.update))

    async def settle_tasks(self) -> None:
        """Let the venue's tasks finish, handing their reports to the engine."""
        for _ in range(2000):
            if not self.venue.tasks and not self.venue.inbox:
                return
            await asyncio.sleep(0.005)
            self._reports(self.venue.execute_due(self.now()))
        raise AssertionError("the venue's tasks did not finish")

    async def enter(self, ticker: str, side: str, yes_price: int, count: int) -> None:
        """The engine's entry order (as ``Engine._send_entry`` makes it), to its end."""
        lane = self.engine.lanes["live"]
        coid = lane.next_id("kbtc", self.now())
        direction = "LONG" if side == "yes" else "SHORT"
        lane.orders[coid] = PendingOrder(
            coid,
            "entry",
            ticker,
            direction,  # type: ignore[arg-type]
            count,
            yes_price,
            self.now(),
        )
        intent = PlaceOrder(self.now(), "live", coid, ticker, side, yes_price, count, "test")  # type: ignore[arg-type]
        self._reports(self.venue.submit(intent))
        await self.settle_tasks()

    async def exit(self, reason: str) -> None:
        intents = self.engine.close_all(reason, "live")
        close = next(i for i in intents if isinstance(i, ClosePosition))
        self._reports(self.venue.submit(close))
        await self.settle_tasks()

    async def status(self, ticker: str, phase: str, result: str | None = None) -> None:
        """A lifecycle message for ``ticker`` (what the market stream would send)."""
        m = self.script.markets[ticker]
        self.feed(
            MarketStatus(
                ts=self.now(),
                ticker=ticker,
                status=phase,  # type: ignore[arg-type]
                strike=90000.0,
                open_ts=m.open_ts,
                close_ts=m.close_ts,
                result=result,  # type: ignore[arg-type]
            )
        )
        await self.settle_tasks()

    def closed(self) -> list[PositionClosed]:
        return [o for o in self.outputs if isinstance(o, PositionClosed)]


@asynccontextmanager
async def scripted_exchange(script: Script, now: Callable[[], int]) -> AsyncIterator[str]:
    """The script served on an ephemeral 127.0.0.1 port; yields the API base URL."""
    runner = web.AppRunner(_app(script, now))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        await runner.cleanup()


FAST = LiveSettings()  # the original's waits; the step clock makes them instant


@asynccontextmanager
async def script_rig(
    script: Script,
    *,
    state: PositionManagerState | None = None,
    start_ms: int = T0 + 2 * 60_000,
    max_contracts: int = 50,
) -> AsyncIterator[ScriptRig]:
    """A live lane on the scripted exchange; ``state``: a restored position manager."""
    clock = StepClock(start_ms)
    saved: list[dict[str, Any]] = []
    async with scripted_exchange(script, clock.now_ms) as url:
        private, _public = generate_key_pair()
        signer = KalshiSigner.from_pem("scripted-key", private)
        rest = KalshiRestClient(
            url,
            signer,
            sleep=clock.sleep,
            clock_ms=clock.now_ms,
            read_bucket=TokenBucket(10_000, 10_000),
            write_bucket=TokenBucket(10_000, 10_000),
        )

        async def persist(data: dict[str, Any]) -> None:
            saved.append(data)

        venue = KalshiVenue(
            rest, lane="live", clock=clock, state=state, persist=persist, settings=FAST
        )
        reconciler = Reconciler(venue, max_contracts=lambda: max_contracts)
        engine = Engine(Params(), [LaneSpec("live", "live")], 1_000_000_000)
        engine.trade_on_exchange("live", venue.exchange_run)  # as ``Session`` does
        rig = ScriptRig(script, url, clock, venue, reconciler, engine, saved)
        try:
            yield rig
        finally:
            await venue.aclose()
            await rest.aclose()
