"""Accounts on the simulator: positions, balance, settlement to the micro-dollar, the private
WS channels, and the product's Kalshi client reading all of it."""

from __future__ import annotations

import json

import aiohttp

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.fees import order_fee
from marketdata.model.units import MICROS_PER_CENT, PRICE_MAX, format_dollars, format_fp
from marketdata.sim.account_wire import money
from marketdata.sim.testing import running_simulator
from marketdata.tests.sim.frames import frames_until
from marketdata.tests.sim.order_helpers import call, quiet, v2

OPENING = 100_000 * MICROS_PER_CENT  # $1,000


async def test_settlement_credits_the_ledger_exactly_and_reports_it_in_the_exchange_format():
    async with running_simulator() as sim:
        ticker = await quiet(sim, 5)
        market = sim.exchange.core.schedule.by_ticker(ticker, sim.now())
        assert market is not None
        book = sim.exchange.state.book(ticker)
        # Buy the side that will win and some of the one that will lose: both legs settle.
        (ask, ask_size), *_ = book.yes_asks(1)
        bid = book.best_yes_bid
        assert bid is not None
        count = min(ask_size, 1234)
        rest = KalshiRestClient(
            sim.kalshi_api_url, KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
        )
        async with rest:
            created = await rest.create_order(
                ticker=ticker,
                book_side="bid",
                yes_price=ask,
                count=count,
                time_in_force="immediate_or_cancel",
                client_order_id="settle-1",
            )
            assert created.fill_count == count
            cost = ask * count
            fee = order_fee(ask, count)
            balance = await rest.get_balance()
            assert balance.balance == (OPENING - cost - fee) // MICROS_PER_CENT * MICROS_PER_CENT
            (position,) = await rest.list_positions(ticker=ticker)
            assert (position.position, position.market_exposure, position.fees_paid) == (
                count,
                cost,
                fee,
            )
            fills = await rest.list_fills(ticker=ticker)
            assert [(f.yes_price, f.count, f.fee, f.is_taker) for f in fills] == [
                (ask, count, fee, True)
            ]
            # Past close, determination and settlement (close + 6 s).
            await sim.advance((market.settle_ts - sim.now()) / 1000 + 2)
            account = sim.exchange.clearing.account(sim.key_id)
            revenue_cents = count if market.result == "yes" else 0
            assert account.cash == OPENING - cost - fee + revenue_cents * MICROS_PER_CENT
            assert account.reserved == 0
            (settlement,) = await rest.list_settlements(ticker=ticker)
            assert settlement.result == market.result
            assert (settlement.yes_count, settlement.no_count) == (count, 0)
            assert settlement.revenue == revenue_cents * MICROS_PER_CENT
            assert settlement.fee_cost == fee
            _status, raw = await call(sim, "GET", "/portfolio/settlements")
            row = raw["settlements"][0]
            assert row["revenue"] == revenue_cents  # integer cents on the wire (§1.3)
            assert row["yes_total_cost_dollars"] == money(cost)
            assert row["market_result"] == market.result
            assert (
                await rest.get_balance()
            ).balance == account.cash // MICROS_PER_CENT * MICROS_PER_CENT
            assert await rest.list_positions(ticker=ticker) == []  # unsettled only, by default
            settled = await rest.list_positions(
                ticker=ticker, settlement_status="settled", count_filter=None
            )
            assert settled[0].position == 0


async def test_selling_what_you_hold_closes_and_a_short_is_signed_negative(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (ask, _), *_ = book.yes_asks(1)
    bid = book.best_yes_bid
    assert bid is not None
    await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", format_dollars(ask), "2", "immediate_or_cancel", "a"),
    )
    # Sell 5 YES at the bid: closes 2, then 3 NO are held (position -3).
    await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "ask", format_dollars(bid), "5", "immediate_or_cancel", "b"),
    )
    account = sim.exchange.clearing.account(sim.key_id)
    pos = account.position(ticker)
    assert pos.position == -300
    assert pos.cost == (PRICE_MAX - bid) * 300
    assert pos.realized_pnl == (bid - ask) * 200
    _status, body = await call(sim, "GET", "/portfolio/positions")
    assert body["market_positions"][0]["position_fp"] == "-3.00"


async def test_fill_user_order_and_market_position_channels(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (ask, size), *_ = book.yes_asks(1)
    headers = sim.sign("GET", "/trade-api/ws/v2")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.kalshi_ws_url, headers=headers) as ws,
    ):
        await ws.send_str(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["fill", "user_orders", "market_positions"]},
                }
            )
        )
        await ws.send_str(
            json.dumps(
                {
                    "id": 2,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
                }
            )
        )
        await frames_until(ws, lambda f: f.get("type") == "orderbook_snapshot")
        count = size + 300
        status, created = await call(
            sim,
            "POST",
            "/portfolio/events/orders",
            v2(ticker, "bid", format_dollars(ask), format_fp(count), "good_till_canceled", "ws-1"),
        )
        assert status == 201
        frames = await frames_until(ws, lambda f: f.get("type") == "user_order")
        kinds = [f["type"] for f in frames]
        assert "fill" in kinds
        assert "market_position" in kinds
        fill = next(f for f in frames if f["type"] == "fill")["msg"]
        assert fill["order_id"] == created["order_id"]
        assert fill["client_order_id"] == "ws-1"
        assert fill["yes_price_dollars"] == format_dollars(ask)
        assert fill["post_position_fp"] == format_fp(size)
        assert fill["fee_cost"] == money(order_fee(ask, size))
        position = next(f for f in frames if f["type"] == "market_position")["msg"]
        assert position["position_fp"] == format_fp(size)
        order = frames[-1]["msg"]
        assert (order["status"], order["ticker"], order["remaining_count_fp"]) == (
            "resting",
            ticker,
            "3.00",
        )
        # The resting remainder's delta names our client_order_id (we placed it).
        ours = [
            f
            for f in frames
            if f["type"] == "orderbook_delta" and f["msg"].get("client_order_id") == "ws-1"
        ]
        assert any(f["msg"]["delta_fp"] == "3.00" and f["msg"]["side"] == "yes" for f in ours)
