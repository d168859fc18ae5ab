"""Order faults on the simulator and what the product's Kalshi client does under each one.

Ambiguous outcomes (answer lost, timeout, 5xx) must be settled by looking the order up by
``client_order_id`` before any resend, leaving exactly one order; a 429 is definitely not
placed and is retried within the write bucket (exchange-protocols.md §1.5-§1.6).
"""

from __future__ import annotations

import asyncio

import httpx

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.ratelimit import TokenBucket
from marketdata.sim.testing import SimHandle, running_simulator
from marketdata.tests.sim.order_helpers import quiet


class LoggingTransport(httpx.AsyncHTTPTransport):
    """Records (method, path) of every request the client sends."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.method, request.url.path.removeprefix("/trade-api/v2")))
        return await super().handle_async_request(request)


def client(sim: SimHandle, transport: LoggingTransport, **kwargs) -> KalshiRestClient:
    async def sleep(seconds: float) -> None:
        sim.set_faults(order_lost=0, order_timeout=0, order_5xx=0, order_429=0)  # it passes
        await asyncio.sleep(0)

    return KalshiRestClient(
        sim.kalshi_api_url,
        KalshiSigner.from_pem(sim.key_id, sim.private_key_pem),
        transport=transport,
        sleep=sleep,
        **kwargs,
    )


async def place(rest: KalshiRestClient, sim: SimHandle, ticker: str, coid: str):
    bid = sim.exchange.state.book(ticker).best_yes_bid
    assert bid is not None
    return await rest.create_order(
        ticker=ticker,
        book_side="bid",
        yes_price=bid - 300,  # rests well below the touch
        count=200,
        time_in_force="good_till_canceled",
        client_order_id=coid,
    )


def orders_with(sim: SimHandle, coid: str) -> int:
    return sum(1 for o in sim.exchange.engine.orders.values() if o.client_order_id == coid)


async def test_lost_create_answer_is_found_by_client_order_id_not_resent():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_lost=1.0)
        transport = LoggingTransport()
        async with client(sim, transport) as rest:
            created = await place(rest, sim, ticker, "lost-1")
        assert created.recovered
        assert transport.log[0] == ("POST", "/portfolio/events/orders")
        assert transport.log[1] == ("GET", "/portfolio/orders")  # looked up first
        assert transport.log.count(("POST", "/portfolio/events/orders")) == 1
        assert orders_with(sim, "lost-1") == 1
        assert rest.stats.ambiguous_creates == 1


async def test_timeout_on_create_is_looked_up_then_resent_once():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_timeout=1.0, rest_timeout_s=0.3)
        transport = LoggingTransport()
        async with client(sim, transport, order_timeout_s=5.0) as rest:
            created = await place(rest, sim, ticker, "slow-1")
        assert not created.recovered
        posts = [i for i, entry in enumerate(transport.log) if entry[0] == "POST"]
        assert len(posts) == 2
        between = transport.log[posts[0] + 1 : posts[1]]
        assert ("GET", "/portfolio/orders") in between  # looked up before the resend
        assert orders_with(sim, "slow-1") == 1


async def test_client_timeout_while_the_exchange_hangs_is_ambiguous_too():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_timeout=1.0, rest_timeout_s=2.0)
        transport = LoggingTransport()
        async with client(sim, transport, order_timeout_s=0.3) as rest:
            await place(rest, sim, ticker, "hang-1")
        assert rest.stats.ambiguous_creates == 1
        assert orders_with(sim, "hang-1") == 1


async def test_5xx_on_create_is_looked_up_then_resent_once():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_5xx=1.0)
        transport = LoggingTransport()
        async with client(sim, transport) as rest:
            created = await place(rest, sim, ticker, "5xx-1")
        assert not created.recovered
        assert transport.log[:2] == [
            ("POST", "/portfolio/events/orders"),
            ("GET", "/portfolio/orders"),
        ]
        assert transport.log.count(("POST", "/portfolio/events/orders")) == 2
        assert orders_with(sim, "5xx-1") == 1
        assert rest.stats.ambiguous_creates == 1


async def test_429_on_create_backs_off_and_retries_within_the_write_bucket():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_429=1.0)
        transport = LoggingTransport()
        now = [0.0]
        bucket = TokenBucket(100, 200, clock=lambda: now[0])  # Basic write tier, time frozen
        async with client(sim, transport, write_bucket=bucket) as rest:
            await place(rest, sim, ticker, "429-1")
        # No lookup: a 429 is definitely not placed. Two sends, each paid from the bucket.
        assert transport.log == [("POST", "/portfolio/events/orders")] * 2
        assert rest.stats.rate_limited == 1
        assert rest.stats.ambiguous_creates == 0
        assert round(bucket.tokens) == 180
        assert orders_with(sim, "429-1") == 1


async def test_slow_order_answer_still_arrives_and_cancel_works():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        sim.set_faults(order_slow=1.0, rest_slow_ms=200)
        transport = LoggingTransport()
        async with client(sim, transport) as rest:
            created = await place(rest, sim, ticker, "slow-ok")
            assert transport.log == [("POST", "/portfolio/events/orders")]
            assert await rest.cancel_order(created.order_id, ticker=ticker) == 200
            assert await rest.cancel_order(created.order_id, ticker=ticker) is None  # 404
            order = await rest.get_order(created.order_id)
        assert (order.status, order.remaining_count) == ("canceled", 0)
