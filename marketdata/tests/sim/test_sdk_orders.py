"""The official Kalshi SDK (kalshi-python-sync 3.34.0) trading on the simulator: an IOC that
fills, a GTC that rests, both read back, the resting one cancelled, then fills, positions and
balance. Its pydantic models validate every response shape."""

from __future__ import annotations

import asyncio

from marketdata.model.units import format_dollars, parse_dollars, parse_fp
from marketdata.tests.sim.order_helpers import quiet
from marketdata.tests.sim.test_sdk import sdk_client


async def test_the_official_sdk_places_reads_and_cancels_orders(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (ask, size), *_ = book.yes_asks(1)
    bid = book.best_yes_bid
    assert bid is not None
    client = sdk_client(sim.kalshi_api_url, sim.key_id, sim.private_key_pem)

    def order(price: int, count: str, tif: str, coid: str) -> dict[str, str]:
        return dict(
            ticker=ticker,
            side="bid",
            price=format_dollars(price),
            count=count,
            time_in_force=tif,
            client_order_id=coid,
            self_trade_prevention_type="taker_at_cross",
        )

    ioc = await asyncio.to_thread(
        client.create_order_v2, **order(ask, "2", "immediate_or_cancel", "s1")
    )
    assert ioc.fill_count == "2.00"
    assert parse_dollars(ioc.average_fill_price[:6]) == ask
    gtc = await asyncio.to_thread(
        client.create_order_v2, **order(bid - 200, "3", "good_till_canceled", "s2")
    )
    assert gtc.remaining_count == "3.00"

    filled = (await asyncio.to_thread(client.get_order, ioc.order_id)).order
    resting = (await asyncio.to_thread(client.get_order, gtc.order_id)).order
    assert (filled.status, filled.fill_count_fp) == ("executed", "2.00")
    assert (resting.status, resting.remaining_count_fp) == ("resting", "3.00")
    listed = await asyncio.to_thread(client.get_orders, ticker=ticker)
    assert {o.order_id for o in listed.orders} == {ioc.order_id, gtc.order_id}

    cancel = await asyncio.to_thread(client.cancel_order_v2, gtc.order_id, market_ticker=ticker)
    assert cancel.reduced_by == "3.00"
    assert (await asyncio.to_thread(client.get_order, gtc.order_id)).order.status == "canceled"

    fills = (await asyncio.to_thread(client.get_fills, ticker=ticker)).fills
    assert [(f.order_id, f.count_fp, f.is_taker) for f in fills] == [(ioc.order_id, "2.00", True)]
    positions = await asyncio.to_thread(client.get_positions, ticker=ticker)
    assert [parse_fp(p.position_fp) for p in positions.market_positions] == [200]
    assert positions.event_positions[0].total_cost_shares_fp == "2.00"
    balance = await asyncio.to_thread(client.get_balance)
    account = sim.exchange.clearing.account(sim.key_id)
    assert balance.balance == account.available // 10_000
    assert balance.balance < 100_000
    assert size >= 200
