"""Contract selection for KXBTC15M: the active window, rotation at close, held books kept."""

from __future__ import annotations

import asyncio

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.wire import MarketInfo
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import MarketStatus
from marketdata.ratelimit import Backoff
from marketdata.selection import ContractRotation, ContractSelector, SoonestWindowPolicy
from marketdata.sim.testing import running_simulator
from marketdata.tests.kalshi_fixtures import Collector, until

MIN = 60_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z


def window(index: int, status: str) -> MarketInfo:
    open_ts = T0 + index * 15 * MIN
    return MarketInfo(
        f"KXBTC15M-W{index}",
        f"KXBTC15M-W{index}"[:-1],
        status,
        open_ts,
        open_ts + 15 * MIN,
        100_000.0 + index,
        None,
    )


def active_of(selector: ContractSelector) -> MarketInfo:
    assert selector.active is not None
    return selector.active


def test_the_active_contract_is_the_open_market_whose_window_contains_now():
    markets = [window(0, "active"), window(1, "initialized"), window(-1, "closed")]
    assert (
        getattr(SoonestWindowPolicy().choose(markets, T0 + 7 * MIN), "ticker", None)
        == "KXBTC15M-W0"
    )
    assert SoonestWindowPolicy().choose(markets, T0 + 15 * MIN) is None  # W1 not open yet


def test_it_rotates_at_close_even_before_the_list_says_the_next_is_open():
    selector = ContractSelector()
    selector.update_markets([window(0, "active"), window(1, "initialized")], T0 + 7 * MIN)
    assert active_of(selector).ticker == "KXBTC15M-W0"
    assert not selector.select(T0 + 15 * MIN - 1)
    assert selector.select(T0 + 15 * MIN)
    assert active_of(selector).ticker == "KXBTC15M-W1"


def test_a_held_ticker_stays_wanted_until_closed_or_settled():
    selector = ContractSelector()
    selector.update_markets([window(0, "active"), window(1, "initialized")], T0 + 7 * MIN)
    selector.set_position("KXBTC15M-W0", 300)
    selector.select(T0 + 15 * MIN)
    assert selector.wanted() == {"KXBTC15M-W0", "KXBTC15M-W1"}
    finalized = MarketStatus(
        ts=T0 + 16 * MIN,
        ticker="KXBTC15M-W0",
        status="finalized",
        strike=1.0,
        open_ts=T0,
        close_ts=T0 + 15 * MIN,
        result="yes",
    )
    selector.on_market_status(finalized)
    assert selector.wanted() == {"KXBTC15M-W1"}
    selector.set_position("KXBTC15M-W1", -200)  # a NO position is held too
    selector.set_position("KXBTC15M-W1", 0)
    assert selector.wanted() == {"KXBTC15M-W1"}  # still the active one


async def test_rotation_at_close_subscribes_the_new_market_and_keeps_the_held_one():
    async with running_simulator() as sim:
        signer = KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
        collector = Collector()
        selector = ContractSelector()
        rotation: ContractRotation

        def on_event(event) -> None:
            collector(event)
            rotation.on_event(event)

        client = KalshiWsClient(
            sim.kalshi_ws_url,
            signer,
            on_event,
            account_channels=(),
            backoff=Backoff(0.05, 0.2),
            event_time_fallback=sim.now,  # the driver's event time (Coinbase heartbeats)
        )
        rest = KalshiRestClient(sim.kalshi_api_url, signer)
        rotation = ContractRotation(rest, client, selector, refresh_s=0.5, now_ms=sim.now)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client.run(stop)), asyncio.create_task(rotation.run(stop))]
        try:
            await until(lambda: selector.active is not None)
            first = active_of(selector)
            await until(lambda: first.ticker in client.valid_books)
            rotation.set_position(first.ticker, 500)  # we hold the first window
            while sim.now() < first.close_ts:
                await sim.advance(min(30, (first.close_ts - sim.now()) / 1000))
            await sim.advance(1)  # one second into the next window
            await until(lambda: selector.active is not None and selector.active != first)
            second = active_of(selector)
            assert second.open_ts == first.close_ts
            await until(lambda: client.subscribed_markets == {first.ticker, second.ticker})
            await until(lambda: second.ticker in client.valid_books)
            (session,) = sim.exchange.kalshi.values()
            (book_sub,) = [s for s in session.subs.values() if s.channel == "orderbook_delta"]
            assert book_sub.tickers == {first.ticker, second.ticker}
            for market in (first, second):
                levels = sim.exchange.state.book(market.ticker).snapshot_levels()
                await until(lambda m=market, lv=levels: collector.levels(m.ticker) == lv)
            # Once the held market settles, its book is let go; the active one stays.
            for _ in range(4):
                await sim.advance(30)
            await until(lambda: first.ticker in selector.settled)
            await until(lambda: book_sub.tickers == {second.ticker})
            assert client.subscribed_markets == {second.ticker}
            assert selector.active == second
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
            await rest.aclose()
