"""The Kalshi WS client against the simulator over 127.0.0.1: what a consumer of its events
sees (books equal to the exchange's, resubscription, liveness)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.ratelimit import Backoff
from marketdata.selection import ContractSelector
from marketdata.sim.testing import running_simulator
from marketdata.tests.kalshi_fixtures import Collector, rsa_key, until


def sim_signer(sim) -> KalshiSigner:
    return KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)


def fast_backoff() -> Backoff:
    return Backoff(base_s=0.05, cap_s=0.2, floor_s=0.01)


@contextlib.asynccontextmanager
async def live_client(sim, **kwargs):
    collector = Collector()
    client = KalshiWsClient(
        sim.kalshi_ws_url,
        sim_signer(sim),
        collector,
        backoff=fast_backoff(),
        account_channels=(),
        **kwargs,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        yield client, collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def active_ticker(sim) -> str:
    async with KalshiRestClient(sim.kalshi_api_url, sim_signer(sim)) as rest:
        markets = await rest.list_markets(series_ticker="KXBTC15M", status="open")
    selector = ContractSelector()
    selector.update_markets(markets, sim.now())
    assert selector.active is not None
    return selector.active.ticker


def exchange_levels(sim, ticker: str):
    return sim.exchange.state.book(ticker).snapshot_levels()


def book_sid(sim) -> tuple[Any, Any]:
    (session,) = sim.exchange.kalshi.values()
    (sub,) = [s for s in session.subs.values() if s.channel == "orderbook_delta"]
    return session, sub


async def synced(sim, client, collector, ticker: str, seconds: float = 5) -> None:
    await sim.advance(seconds)
    await until(lambda: collector.levels(ticker) == exchange_levels(sim, ticker))


async def test_it_keeps_the_active_market_book_equal_to_the_exchange():
    async with running_simulator() as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await until(lambda: ticker in client.valid_books)
            for _ in range(5):
                await synced(sim, client, collector, ticker, 10)
            assert {"book_snapshot", "book_delta"} <= collector.kinds()
            assert all(e.recv_ts is not None for e in collector.events)
            assert client.stats.malformed == 0
            assert client.stats.resnapshots == 0
            assert client.stats.state == "connected"


async def test_a_skipped_seq_resnapshots_once_and_the_book_matches_the_exchange():
    async with running_simulator() as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await synced(sim, client, collector, ticker)
            snapshots_before = sum(e.kind == "book_snapshot" for e in collector.events)
            # One delta lost on the way: the exchange's book changes, its frame never arrives.
            book = sim.exchange.state.book(ticker)
            price = book.best_yes_bid
            assert price is not None
            book.apply_delta("yes", price, 700)
            _, sub = book_sid(sim)
            sub.seq += 1
            assert collector.levels(ticker) != exchange_levels(sim, ticker)
            await synced(sim, client, collector, ticker, 10)
            await sim.advance(5)
            await until(lambda: collector.levels(ticker) == exchange_levels(sim, ticker))
            assert client.stats.seq_gaps == 1
            assert client.stats.resnapshots == 1
            snapshots = sum(e.kind == "book_snapshot" for e in collector.events)
            assert snapshots == snapshots_before + 1
            assert client.stats.reconnects == 0


async def test_random_seq_skips_and_repeats_never_leave_a_wrong_book():
    async with running_simulator() as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await synced(sim, client, collector, ticker)
            sim.set_faults(seq_skip=0.05, seq_repeat=0.05)
            for _ in range(6):
                await sim.advance(10)
            sim.set_faults(seq_skip=0.0, seq_repeat=0.0)
            await synced(sim, client, collector, ticker, 5)
            assert client.stats.seq_gaps >= 1
            assert client.stats.resnapshots >= 1


async def test_a_dropped_connection_reconnects_resubscribes_and_rebuilds_the_book():
    async with running_simulator() as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await synced(sim, client, collector, ticker)
            (outbox,) = sim.exchange.kalshi
            transport = outbox.request.transport
            assert transport is not None
            transport.abort()  # a network drop: no close frame
            await sim.advance(10)  # the market moves on while we are away
            await until(lambda: client.stats.connects == 2 and ticker in client.valid_books)
            await synced(sim, client, collector, ticker, 10)
            assert client.stats.reconnects == 1
            _, sub = book_sid(sim)
            assert sub.tickers == {ticker}


async def test_a_quiet_market_with_pings_flowing_does_not_reconnect():
    async with running_simulator(ping_interval_s=0.1) as sim:
        ticker = await active_ticker(sim)
        # Pings every 0.1 s against a 1.5 s timeout: generous for a loaded CI machine, and
        # 3 s of market silence is still twice the timeout.
        async with live_client(sim, ping_timeout_s=1.5, client_ping_interval_s=None) as (
            client,
            _collector,
        ):
            client.set_markets([ticker])
            await until(lambda: ticker in client.valid_books)
            messages = client.stats.messages
            await asyncio.sleep(3.0)  # simulated time stands still: no market data at all
            assert client.stats.messages == messages
            assert client.stats.reconnects == 0
            assert client.stats.liveness_timeouts == 0
            assert client.stats.state == "connected"


async def test_no_ping_within_the_timeout_reconnects_and_resubscribes():
    async with running_simulator(ping_interval_s=60) as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim, ping_timeout_s=0.3, client_ping_interval_s=None) as (
            client,
            _collector,
        ):
            client.set_markets([ticker])
            await until(lambda: client.stats.liveness_timeouts >= 1, timeout_s=5)
            await until(lambda: client.stats.connects >= 2 and ticker in client.valid_books)
            assert client.stats.reconnects >= 1


async def test_malformed_frames_are_counted_and_the_book_recovers():
    async with running_simulator() as sim:
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await synced(sim, client, collector, ticker)
            sim.set_faults(malformed=0.1)
            for _ in range(4):
                await sim.advance(10)
            sim.set_faults(malformed=0.0)
            await synced(sim, client, collector, ticker, 5)
            assert client.stats.malformed >= 1
            assert sum(client.stats.malformed_reasons.values()) == client.stats.malformed
            assert client.stats.state == "connected"


async def test_a_handshake_with_a_tampered_signature_is_refused_with_401():
    async with running_simulator() as sim:
        good = sim_signer(sim)

        class Tampered(KalshiSigner):
            def headers(self, method: str, path: str) -> dict[str, str]:
                headers = good.headers(method, path)
                signature = bytearray(headers["KALSHI-ACCESS-SIGNATURE"].encode())
                signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
                return {**headers, "KALSHI-ACCESS-SIGNATURE": signature.decode()}

        client = KalshiWsClient(
            sim.kalshi_ws_url, Tampered(sim.key_id, rsa_key()), Collector(), account_channels=()
        )
        with pytest.raises(InvalidStatus) as caught:
            await client._connect_once(asyncio.Event())
        assert caught.value.response.status_code == 401
        # Run as a feed, it keeps retrying with backoff and never reports connected.
        client.backoff = fast_backoff()
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await until(lambda: client.stats.reconnects >= 2)
        stop.set()
        await task
        assert client.stats.connects == 0
        assert "401" in client.stats.last_error
