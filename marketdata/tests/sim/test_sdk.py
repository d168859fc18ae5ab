"""The official Kalshi SDK (kalshi-python-sync 3.34.0) against the simulator.

Not skippable: the SDK is a test dependency; if it is missing this module fails to import.
The SDK is synchronous, so its calls run in a thread while the simulator serves in the loop.
"""

import asyncio

import kalshi_python_sync
import pytest
from kalshi_python_sync.exceptions import ApiException, UnauthorizedException

from marketdata.model.units import parse_dollars
from marketdata.sim.auth import generate_key_pair


def sdk_client(api_url: str, key_id: str, private_pem: bytes) -> kalshi_python_sync.KalshiClient:
    config = kalshi_python_sync.Configuration(host=api_url)
    config.api_key_id = key_id
    config.private_key_pem = private_pem.decode()
    return kalshi_python_sync.KalshiClient(config)


async def test_the_official_sdk_lists_reads_and_gets_the_book(sim_exchange):
    sim = sim_exchange
    client = sdk_client(sim.kalshi_api_url, sim.key_id, sim.private_key_pem)
    listing = await asyncio.to_thread(client.get_markets, series_ticker="KXBTC15M", status="open")
    assert [m.ticker for m in listing.markets] == ["KXBTC15M-24DEC311915-15"]
    ticker = listing.markets[0].ticker
    market = (await asyncio.to_thread(client.get_market, ticker)).market
    assert market.status == "active"
    assert market.floor_strike is not None
    assert market.price_level_structure == "tapered_deci_cent"
    book = (await asyncio.to_thread(client.get_market_orderbook, ticker)).orderbook_fp
    best_yes = max(parse_dollars(p) for p, _ in book.yes_dollars)
    best_no = max(parse_dollars(p) for p, _ in book.no_dollars)
    assert best_yes == parse_dollars(market.yes_bid_dollars)
    assert 10_000 - best_no == parse_dollars(market.yes_ask_dollars)
    series = (await asyncio.to_thread(client.get_series, "KXBTC15M")).series
    assert series.fee_type == "quadratic"


async def test_the_official_sdk_is_refused_with_an_unregistered_key(sim_exchange):
    sim = sim_exchange
    stranger_private, _ = generate_key_pair()
    client = sdk_client(sim.kalshi_api_url, "not-a-registered-key", stranger_private)
    with pytest.raises((UnauthorizedException, ApiException)) as refused:
        await asyncio.to_thread(client.get_markets, series_ticker="KXBTC15M", status="open")
    assert refused.value.status == 401
