"""The matching engine on the pure core (no sockets): resting orders survive the maker's
requotes, get filled as the maker by the market's own flow, and the whole thing repeats."""

from __future__ import annotations

from marketdata.model.book import OrderBook
from marketdata.model.events import BookDelta, BookSnapshot, PublicTrade
from marketdata.model.ticks import tick_down
from marketdata.model.units import PRICE_MAX
from marketdata.sim.clearing import Clearing
from marketdata.sim.core import SimCore
from marketdata.sim.matching import MatchingEngine
from marketdata.sim.order_types import OrderRequest
from marketdata.sim.stream import history_for, stream_sha256
from marketdata.sim.testing import DEFAULT_START_MS


def engine() -> tuple[SimCore, MatchingEngine]:
    core = SimCore(seed=3, start_ts=DEFAULT_START_MS, history=history_for(3, DEFAULT_START_MS, 30))
    eng = MatchingEngine(core, Clearing(opening_balance_micros=10**9), seed=3)
    eng.initial = core.initial_events()  # type: ignore[attr-defined]
    return core, eng


def bid(ticker: str, price: int, count: int, coid: str) -> OrderRequest:
    return OrderRequest(ticker, "bid", price, count, "good_till_canceled", coid, "yes", "buy")


def run(with_orders: bool, seconds: int = 600) -> tuple[list, list, MatchingEngine]:
    core, eng = engine()
    events = [*eng.initial, *core.run_until(DEFAULT_START_MS + 5_000)]  # type: ignore[attr-defined]
    market = core.active
    assert market is not None
    book = core.books[market.ticker]
    if with_orders:
        ask = book.best_yes_ask
        assert ask is not None
        # One bid just under the ask (it becomes the best bid), one far below the touch.
        _, placed = eng.place("u", bid(market.ticker, tick_down(ask), 5_000, "near"), core.now)
        events += placed
        _, placed = eng.place("u", bid(market.ticker, 1_000, 300, "deep"), core.now)
        events += placed
    for _ in range(seconds):
        events += core.step()
    notes = list(eng.clearing.outbox)
    return events, notes, eng


def test_resting_orders_are_filled_as_maker_and_survive_requotes():
    events, notes, eng = run(True, 400)  # the market is still open at the end
    near = next(o for o in eng.orders.values() if o.client_order_id == "near")
    assert near.filled > 0  # the market came to it
    fills = eng.clearing.account("u").fills
    assert fills
    assert all(not f.is_taker and f.fee == 0 for f in fills)  # makers pay nothing (quadratic)
    assert all(f.yes_price == near.yes_price for f in fills if f.order_id == near.order_id)
    book = eng.core.books[near.ticker]
    assert {n.channel for n in notes} >= {"fill", "user_orders", "market_positions"}
    # Replaying every delta reproduces the core's book exactly (nothing lost or doubled).
    replay = OrderBook(near.ticker)
    for event in events:
        if isinstance(event, BookSnapshot | BookDelta) and event.ticker == near.ticker:
            replay.apply(event)
    assert eng.core.active is not None
    assert eng.core.active.ticker == near.ticker
    assert replay.snapshot_levels() == book.snapshot_levels()
    bid_now, ask_now = book.best_yes_bid, book.best_yes_ask
    assert bid_now is not None
    assert ask_now is not None
    assert bid_now < ask_now  # never left crossed


def test_requotes_never_wipe_a_resting_order():
    _, _, eng = run(True, 90)
    deep = next(o for o in eng.orders.values() if o.client_order_id == "deep")
    book = eng.core.books[deep.ticker]
    maker = eng.core.makers[deep.ticker]
    assert (deep.status, deep.remaining) == ("resting", 300)
    # 90 requotes later the level holds the maker's own size plus ours, exactly.
    assert book.size_at("yes", 1_000) == maker.shown["yes"].get(1_000, 0) + 300


def test_a_maker_requote_through_a_resting_order_fills_it_at_its_price():
    core, eng = engine()
    core.run_until(DEFAULT_START_MS + 2_000)
    market = core.active
    assert market is not None
    maker = core.makers[market.ticker]
    book = core.books[market.ticker]
    ask = book.best_yes_ask
    assert ask is not None
    order, _ = eng.place("u", bid(market.ticker, tick_down(ask), 100, "x"), core.now)
    assert order.status == "resting"
    # The maker's next quote offers YES at our bid (its NO bid moves up to 1 - our price).
    crossing = PRICE_MAX - order.yes_price
    maker.shown["no"][crossing] = maker.shown["no"].get(crossing, 0) + 400
    book.apply_delta("no", crossing, 400)
    events = eng.after_requote(market.ticker, core.now)
    assert order.status == "executed"
    assert maker.shown["no"][crossing] == 300
    trades = [e for e in events if isinstance(e, PublicTrade)]
    assert [(t.yes_price, t.count, t.taker_side) for t in trades] == [(order.yes_price, 100, "no")]


def test_same_seed_and_same_orders_give_the_same_stream():
    first, first_notes, _ = run(True, 300)
    second, second_notes, _ = run(True, 300)
    assert stream_sha256(first) == stream_sha256(second)
    assert [n.msg for n in first_notes] == [n.msg for n in second_notes]
    # And with no orders the market is exactly part 1's market.
    plain, _, _ = run(False, 300)
    core = SimCore(seed=3, start_ts=DEFAULT_START_MS, history=history_for(3, DEFAULT_START_MS, 30))
    reference = [*core.initial_events(), *core.run_until(DEFAULT_START_MS + 5_000)]
    for _ in range(300):
        reference += core.step()
    assert stream_sha256(plain) == stream_sha256(reference)
