"""The Kalshi REST client against the simulator over 127.0.0.1."""

from __future__ import annotations

import time

import httpx
import pytest

from marketdata.kalshi.errors import KalshiAuthError, KalshiNotFound
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.ratelimit import TokenBucket
from marketdata.sim.testing import running_simulator


def sim_signer(sim) -> KalshiSigner:
    return KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)


class OneByteTampered(KalshiSigner):
    """Signs correctly, then flips one byte of the decoded signature."""

    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        import base64

        raw = bytearray(base64.b64decode(super().sign(timestamp_ms, method, path)))
        raw[0] ^= 0x01
        return base64.b64encode(bytes(raw)).decode()


async def test_markets_market_book_trades_and_series_read_exactly():
    async with running_simulator() as sim:
        await sim.advance(60)
        async with KalshiRestClient(sim.kalshi_api_url, sim_signer(sim)) as rest:
            open_markets = await rest.list_markets(series_ticker="KXBTC15M", status="open", limit=3)
            assert len(open_markets) == 1
            (active,) = open_markets
            assert active.contains(sim.now())
            assert active.phase == "open"
            assert active.strike is not None
            upcoming = await rest.list_markets(series_ticker="KXBTC15M", status="unopened", limit=2)
            # Several pages of two: the cursor is followed to the end.
            assert len(upcoming) > 2
            assert rest.stats.requests >= 3
            assert all(m.open_ts >= active.close_ts for m in upcoming)
            assert (await rest.get_market(active.ticker)) == active
            book = await rest.get_orderbook(active.ticker)
            assert (book.yes, book.no) == sim.exchange.state.book(active.ticker).snapshot_levels()
            trades = await rest.list_trades(ticker=active.ticker)
            assert all(t.ticker == active.ticker for t in trades)
            series = await rest.get_series("KXBTC15M")
            assert (series.fee_type, series.fee_multiplier) == ("quadratic", 1)
            balance = await rest.get_balance()
            assert balance.balance == sim.exchange.opening_balance_cents * 10_000
            with pytest.raises(KalshiNotFound):
                await rest.get_market("KXBTC15M-NOPE-00")


async def test_a_request_with_one_tampered_byte_gets_401():
    async with running_simulator() as sim:
        good = sim_signer(sim)
        bad = OneByteTampered(sim.key_id, good._key)
        async with KalshiRestClient(sim.kalshi_api_url, good) as rest:
            assert (await rest.get_balance()).balance > 0
        async with KalshiRestClient(sim.kalshi_api_url, bad) as rest:
            with pytest.raises(KalshiAuthError) as caught:
                await rest.get_balance()
            assert caught.value.status == 401
            # Public reads verify too when headers are sent (interfaces.md §2).
            with pytest.raises(KalshiAuthError):
                await rest.get_series("KXBTC15M")
            assert rest.stats.requests == 2  # a 401 is not retried


async def test_a_429_on_a_read_is_retried_within_the_bucket():
    async with running_simulator() as sim:
        sim.set_faults(rest_429=0.5)
        bucket = TokenBucket(200, 200)  # Basic: 20 reads a second
        async with KalshiRestClient(
            sim.kalshi_api_url,
            sim_signer(sim),
            read_bucket=bucket,
            backoff_base_s=0.01,
            max_read_attempts=10,
        ) as rest:
            started = time.monotonic()
            for _ in range(30):
                series = await rest.get_series("KXBTC15M")
                assert series.fee_type == "quadratic"
            elapsed = time.monotonic() - started
        assert rest.stats.rate_limited >= 5
        assert rest.stats.retries == rest.stats.rate_limited
        # Every try, retries included, went through the bucket: beyond its 20-request
        # burst the pace is at most 20 requests a second.
        assert rest.stats.requests <= 20 + 20 * elapsed + 1


async def test_5xx_and_timeouts_on_reads_are_retried():
    async with running_simulator() as sim:
        sim.set_faults(rest_5xx=0.3, rest_timeout=0.2, rest_timeout_s=0.05)
        async with KalshiRestClient(
            sim.kalshi_api_url, sim_signer(sim), backoff_base_s=0.01, max_read_attempts=12
        ) as rest:
            for _ in range(10):
                await rest.get_series("KXBTC15M")
        assert rest.stats.retries >= 1


async def test_a_client_timeout_is_a_transport_error_that_is_retried():
    async with running_simulator() as sim:
        sim.set_faults(rest_slow=1.0, rest_slow_ms=300)
        async with KalshiRestClient(
            sim.kalshi_api_url,
            sim_signer(sim),
            timeout_s=0.1,
            backoff_base_s=0.01,
            max_read_attempts=2,
        ) as rest:
            from marketdata.kalshi.errors import KalshiTransportError

            with pytest.raises(KalshiTransportError):
                await rest.get_series("KXBTC15M")
            assert rest.stats.requests == 2
        assert isinstance(httpx.ReadTimeout("x"), httpx.TransportError)
