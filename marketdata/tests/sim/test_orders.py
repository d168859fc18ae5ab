"""Orders against the simulator over HTTP: matching level by level, time in force, resting
orders in the book, refusals (exchange-protocols.md §1.4-§1.5, interfaces.md §6)."""

from __future__ import annotations

from marketdata.model.fees import OrderFeeAccumulator
from marketdata.model.units import PRICE_MAX, format_dollars, format_fp, parse_dollars, parse_fp
from marketdata.tests.sim.order_helpers import call, quiet, v2


async def test_an_order_crossing_three_levels_fills_level_by_level(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 30)
    book = sim.exchange.state.book(ticker)
    asks = book.yes_asks(3)  # (YES price, size), cheapest first
    count = asks[0][1] + asks[1][1] + 500  # all of two levels and 5 contracts of the third
    assert asks[2][1] > 500
    status, created = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(
            ticker, "bid", format_dollars(asks[2][0]), format_fp(count), "immediate_or_cancel", "x3"
        ),
    )
    assert status == 201, created
    assert parse_fp(created["fill_count"]) == count
    assert parse_fp(created["remaining_count"]) == 0

    status, body = await call(sim, "GET", "/portfolio/fills", query={"ticker": ticker})
    fills = list(reversed(body["fills"]))  # newest first on the wire
    expected = [(asks[0][0], asks[0][1]), (asks[1][0], asks[1][1]), (asks[2][0], 500)]
    assert [(parse_dollars(f["yes_price_dollars"]), parse_fp(f["count_fp"])) for f in fills] == (
        expected
    )
    # Fees per interfaces.md §6: each fill pays ceil(cumulative raw) minus what was charged.
    accumulator = OrderFeeAccumulator()
    fees = [accumulator.charge(p, c, is_taker=True) for p, c in expected]
    assert [round(float(f["fee_cost"]) * 1_000_000) for f in fills] == fees
    assert all(f["is_taker"] and f["book_side"] == "bid" for f in fills)
    value = sum(p * c for p, c in expected)
    assert created["average_fill_price"] == f"{value / count / PRICE_MAX:.6f}"
    # The book lost exactly what was taken.
    for price, size in expected:
        before = dict(asks)[price]
        assert book.size_at("no", PRICE_MAX - price) == before - size
    status, order = await call(sim, "GET", f"/portfolio/orders/{created['order_id']}")
    assert order["order"]["status"] == "executed"
    assert order["order"]["taker_fees_dollars"] == f"{sum(fees) / 1_000_000:.4f}"
    account = sim.exchange.clearing.account(sim.key_id)
    assert account.cash == 100_000 * 10_000 - value - sum(fees)
    assert account.position(ticker).position == count


async def test_ioc_remainder_is_cancelled(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (price, size), *_ = book.yes_asks(1)
    status, created = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", format_dollars(price), format_fp(size + 700), "immediate_or_cancel", "i"),
    )
    assert status == 201
    assert (parse_fp(created["fill_count"]), parse_fp(created["remaining_count"])) == (size, 0)
    status, order = await call(sim, "GET", f"/portfolio/orders/{created['order_id']}")
    assert order["order"]["status"] == "canceled"
    assert book.size_at("yes", price) == 0  # nothing rests at our price


async def test_a_reduce_only_sell_never_opens_the_other_side(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (ask, _), *_ = book.yes_asks(1)
    account = sim.exchange.clearing.account(sim.key_id)
    buy = v2(ticker, "bid", format_dollars(ask), "2", "immediate_or_cancel", "buy")
    assert (await call(sim, "POST", "/portfolio/events/orders", buy))[0] == 201
    assert account.position(ticker).position == 200
    (bid, _), *_ = book.yes_bids(1)
    sell = v2(ticker, "ask", format_dollars(bid), "5", "immediate_or_cancel", "sell")
    status, created = await call(
        sim, "POST", "/portfolio/events/orders", {**sell, "reduce_only": True}
    )
    assert status == 201
    assert parse_fp(created["fill_count"]) == 200  # the two held, not five
    assert account.position(ticker).position == 0
    # Flat: a second reduce-only sell has nothing to reduce and ends unfilled.
    again = {**sell, "client_order_id": "sell-again", "reduce_only": True}
    status, created = await call(sim, "POST", "/portfolio/events/orders", again)
    assert status == 201
    assert parse_fp(created["fill_count"]) == 0
    assert account.position(ticker).position == 0


async def test_gtc_remainder_rests_and_shows_in_the_book(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (price, size), *_ = book.yes_asks(1)
    before_bid = book.best_yes_bid
    status, created = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", format_dollars(price), format_fp(size + 700), "good_till_canceled", "g"),
    )
    assert status == 201
    assert parse_fp(created["remaining_count"]) == 700
    # The remainder is now the best YES bid, at our price, visible on REST.
    status, rest = await call(sim, "GET", f"/markets/{ticker}/orderbook")
    levels = {parse_dollars(p): parse_fp(c) for p, c in rest["orderbook_fp"]["yes_dollars"]}
    assert levels[price] == 700
    assert book.best_yes_bid == price > (before_bid or 0)
    status, listing = await call(sim, "GET", "/portfolio/orders", query={"status": "resting"})
    assert [o["order_id"] for o in listing["orders"]] == [created["order_id"]]
    # Cancel (V2): the size leaves the book.
    status, cancel = await call(sim, "DELETE", f"/portfolio/events/orders/{created['order_id']}")
    assert status == 200
    assert cancel["reduced_by"] == "7.00"
    assert book.size_at("yes", price) == 0
    status, _ = await call(sim, "DELETE", f"/portfolio/events/orders/{created['order_id']}")
    assert status == 404


async def test_fok_that_cannot_fill_fully_does_nothing(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    (price, size), *_ = book.yes_asks(1)
    levels = book.snapshot_levels()
    status, created = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", format_dollars(price), format_fp(size + 100), "fill_or_kill", "f"),
    )
    assert status == 201
    assert parse_fp(created["fill_count"]) == 0
    assert book.snapshot_levels() == levels
    assert sim.exchange.clearing.account(sim.key_id).fills == []
    assert sim.exchange.clearing.account(sim.key_id).cash == 100_000 * 10_000
    # The same FOK sized to the level fills whole.
    status, whole = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", format_dollars(price), format_fp(size), "fill_or_kill", "f2"),
    )
    assert parse_fp(whole["fill_count"]) == size


async def test_refusals_as_the_exchange_refuses_them(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    bid = book.best_yes_bid
    assert bid is not None
    assert bid > 1000
    deep = format_dollars(bid - 500)
    order = v2(ticker, "bid", deep, "1", "good_till_canceled", "dup")
    assert (await call(sim, "POST", "/portfolio/events/orders", order))[0] == 201
    status, body = await call(sim, "POST", "/portfolio/events/orders", order)
    assert (status, body["error"]["code"]) == (409, "order_already_exists")
    # Off the tapered deci-cent grid: $0.505 is inside the cent band.
    status, body = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", "0.5050", "1", "fill_or_kill", "p"),
    )
    assert (status, body["error"]["code"]) == (400, "invalid_price")
    # Closed market: the window before the open one.
    closed = next(
        m.ticker
        for m in sim.exchange.core.schedule.visible(sim.now())
        if m.phase(sim.now()) in ("closed", "determined", "finalized")
    )
    status, body = await call(
        sim,
        "POST",
        "/portfolio/orders",
        {
            "ticker": closed,
            "side": "yes",
            "action": "buy",
            "count": 1,
            "yes_price": 50,
            "client_order_id": "c",
            "time_in_force": "good_till_canceled",
        },
    )
    assert (status, body["error"]["code"]) == (409, "market_closed")
    status, body = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2("KXBTC15M-NOPE-00", "bid", "0.50", "1", "fill_or_kill", "n"),
    )
    assert status == 404
    # Insufficient balance: 100,000 contracts at $0.50 is $50,000 against $1,000.
    status, body = await call(
        sim,
        "POST",
        "/portfolio/events/orders",
        v2(ticker, "bid", deep, "100000", "good_till_canceled", "b"),
    )
    assert (status, body["error"]["code"]) == (400, "insufficient_balance")


async def test_legacy_endpoint_buys_no_and_amends_and_decreases(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    book = sim.exchange.state.book(ticker)
    no_bid = book.best_no_bid
    assert no_bid is not None
    # Buy NO one cent under the best NO bid (rests on the NO side), legacy cents form.
    cents = no_bid // 100 - 1
    status, created = await call(
        sim,
        "POST",
        "/portfolio/orders",
        {
            "ticker": ticker,
            "side": "no",
            "action": "buy",
            "count": 4,
            "no_price": cents,
            "client_order_id": "leg",
            "time_in_force": "good_till_canceled",
        },
    )
    assert status == 201, created
    order = created["order"]
    assert (order["status"], order["book_side"], order["outcome_side"]) == ("resting", "ask", "no")
    assert order["yes_price_dollars"] == format_dollars(PRICE_MAX - cents * 100)
    assert book.size_at("no", cents * 100) >= 400
    before = book.size_at("no", cents * 100)
    status, dec = await call(
        sim, "POST", f"/portfolio/events/orders/{order['order_id']}/decrease", {"reduce_by": "1"}
    )
    assert (status, dec["remaining_count"]) == (200, "3.00")
    assert book.size_at("no", cents * 100) == before - 100
    status, amended = await call(
        sim,
        "POST",
        f"/portfolio/events/orders/{order['order_id']}/amend",
        {
            "ticker": ticker,
            "side": "ask",
            "price": format_dollars(PRICE_MAX - cents * 100 + 100),
            "count": "2",
        },
    )
    assert status == 200, amended
    assert amended["remaining_count"] == "2.00"
    assert book.size_at("no", cents * 100 - 100) >= 200
    status, cancel = await call(sim, "DELETE", f"/portfolio/orders/{order['order_id']}")
    assert (status, cancel["reduced_by_fp"], cancel["order"]["status"]) == (200, "2.00", "canceled")
