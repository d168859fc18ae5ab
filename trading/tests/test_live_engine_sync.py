"""The engine's live lane against the exchange simulator's ledger, over sockets: whatever
moves the live position without the lane's own fills (a ghost, a recount, an exit that
sold nothing in all its attempts, an orphan's close, a restart) leaves the lane's position
the exchange's and its bankroll the account's (cash plus what it holds at cost), and a
ghost books no payout. A kill -9 while an entry or an exit is in flight (issue #23) is
booked at the restart from the exchange's fills, whether or not the engine's saved state
knew the order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.events import ClockTick
from marketdata.model.units import MICROS_PER_CENT, MICROS_PER_DOLLAR
from marketdata.sim.order_types import OrderRequest
from mlgate.sink import FeaturesSink
from trading.chaos.account import fill_cash
from trading.engine.engine import Engine
from trading.engine.intents import ClosePosition
from trading.engine.params import Params
from trading.engine.records import PositionClosed
from trading.models import LivePositionState, Trade
from trading.runtime.live import build_live_venue, save_live_state
from trading.runtime.live_safety import build_reconciler
from trading.runtime.writer import PersistWriter
from trading.tests.live_harness import LiveRig, live_rig, wait_for
from trading.venues.kalshi import MISSED_EXIT, LiveSettings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WINDOW_OPEN = 1_767_225_600_000  # 2026-01-01 00:00 UTC
NEAR_CLOSE = WINDOW_OPEN + 13 * 60_000  # two minutes before the window closes


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


async def balance(rig: LiveRig) -> int:
    """The account's cash as the exchange quotes it (whole cents, micro-dollars)."""
    return (await rig.venue.rest.get_balance()).balance


def open_cost(rig: LiveRig) -> int:
    position = rig.lane.position
    return 0 if position is None else position.cost + position.entry_fees


async def started(rig: LiveRig) -> None:
    """The venue's start: the engine hears the durable state and the account's cash."""
    rig.venue.start()
    await rig.until(rig.idle, "the start")
    assert rig.lane.breaker.bankroll == await balance(rig)


async def opened(rig: LiveRig, count: int, side: str = "yes") -> str:
    market = await rig.market()
    bid, ask = await rig.best(market.ticker)
    if side == "no":
        # Near the close the maker's YES bids (the NO asks) are thin: another trader joins
        # the touch with the whole size, so the entry fills in full.
        bids_at(rig, market.ticker, bid, count)
    limit = min(9990, ask + 200) if side == "yes" else max(10, bid - 200)
    intent = rig.enter(market.ticker, side, limit, count)
    # The clock holds until the order is on the exchange: a step first would let the
    # simulator's takers hit that liquidity before it arrives (the entry then fills nothing).
    await rig.on_exchange(intent.client_order_id)
    await rig.until(lambda: rig.venue.state.state == "OPEN" and rig.idle(), "entry open")
    assert rig.lane.position is not None
    assert rig.lane.position.count == count
    return market.ticker


async def sold_by_hand(rig: LiveRig, ticker: str, count: int) -> None:
    """Someone sells ``count`` of the position on the account, outside KBTC (to another
    trader's bid at the touch: a book near its close may have none)."""
    (bid, _), _ask = await rig.top(ticker)
    bids_at(rig, ticker, max(100, bid), count)
    await rig.venue.rest.create_order(
        ticker=ticker,
        book_side="ask",
        yes_price=100,
        count=count,
        time_in_force="immediate_or_cancel",
        client_order_id=f"by-hand-{rig.now()}",
    )
    await rig.step(2)


def resting(rig: LiveRig, user: str, ticker: str) -> bool:
    orders = rig.sim.exchange.engine.orders.values()
    return any(o.user_id == user and o.ticker == ticker and o.status == "resting" for o in orders)


def bids_at(rig: LiveRig, ticker: str, price: int, count: int) -> None:
    """Another account rests a bid for ``count`` YES at ``price``."""
    request = OrderRequest(
        ticker=ticker,
        book_side="bid",
        yes_price=price,
        count=count,
        time_in_force="good_till_canceled",
        client_order_id=f"another-trader-{rig.now()}-{price}",
        side="yes",
        action="buy",
    )
    _order, events = rig.sim.exchange.engine.place("another-trader", request, rig.now())
    rig.sim.exchange.publish(events)


async def test_a_ghost_leaves_the_lane_flat_books_no_payout_and_the_bankroll_is_the_cash():
    async with live_rig(start_ms=NEAR_CLOSE) as rig:
        reconciler = build_reconciler(rig.venue)
        assert (await reconciler.start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        await sold_by_hand(rig, ticker, 200)
        assert rig.account.position(ticker).position == 0
        report = await reconciler.reconcile("periodic")
        assert [a.kind for a in report.actions] == ["clear_ghost"]
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the engine told")
        [ghost] = rig.closed()
        assert (ghost.reason, ghost.quarantine, ghost.fill_source) == (
            "RECONCILE_GHOST",
            "RECONCILE_GHOST",
            "venue_correction",
        )
        assert (ghost.proceeds, ghost.pnl) == (0, 0)  # no exit invented
        features = FeaturesSink(PersistWriter())
        features.consume(None, [ghost], rig.now())
        assert features.health()["mlgate"]["labelled"] == 0  # no outcome to learn from
        assert rig.lane.breaker.bankroll == await balance(rig)
        # Its contract settles: the lane books nothing more, the bankroll stays the cash.
        market = await rig.venue.rest.get_market(ticker)
        await rig.until(lambda: rig.now() >= market.close_ts + 3000, "the result", 300)
        result = (await rig.venue.rest.get_market(ticker)).result
        assert result in ("yes", "no")
        rig.feed(rig.status(market, "determined", result))
        await rig.step(10)
        assert rig.closed() == [ghost]
        assert rig.lane.breaker.bankroll == await balance(rig)
        # Stored, it is an errored trade (out of the trades), never a win or a loss.
        await rig.store_trade()
        row = await sync_to_async(Trade.objects.get)(position_uid=ghost.position_uid)
        assert row.quarantined
        assert row.exit_reason == "RECONCILE_GHOST"


async def test_a_recount_sets_the_lanes_count_at_its_average_entry():
    async with live_rig() as rig:
        reconciler = build_reconciler(rig.venue)
        assert (await reconciler.start()).ok
        await started(rig)
        ticker = await opened(rig, 300)
        position = rig.lane.position
        assert position is not None
        cost, fees = position.cost, position.entry_fees
        await sold_by_hand(rig, ticker, 100)
        assert rig.account.position(ticker).position == 200
        report = await reconciler.reconcile("periodic")
        assert [a.kind for a in report.actions] == ["set_count"]
        await rig.until(lambda: rig.idle() and position.count == 200, "the engine told")
        assert (position.cost, position.entry_fees) == (cost * 2 // 3, fees * 2 // 3)
        assert (position.filled_count, position.total_cost) == (200, cost * 2 // 3)
        assert rig.lane.breaker.bankroll == await balance(rig) + open_cost(rig)
        rig.exit("TIME_EXIT")
        await rig.until(
            lambda: rig.venue.state.state == "FLAT" and rig.idle() and rig.lane.position is None,
            "the exit",
        )
        [trade] = rig.closed()
        assert trade.count == 200
        assert rig.account.position(ticker).position == 0
        assert rig.lane.breaker.bankroll == await balance(rig)


@pytest.mark.parametrize(
    ("end", "side"),
    [("recovered", "yes"), ("settled", "no")],  # two minutes before the close NO is ~98 ¢
)
async def test_an_exit_that_never_sells_is_orphaned_and_its_close_reaches_the_bankroll(end, side):
    async with live_rig(start_ms=NEAR_CLOSE, settings=LiveSettings(exit_attempts=3)) as rig:
        reconciler = build_reconciler(rig.venue, orphan_every_s=1)
        notices: list[str] = []

        async def notify(channel: str, text: str) -> None:
            notices.append(f"{channel}: {text}")

        rig.venue.notify = notify
        assert (await reconciler.start()).ok
        await started(rig)
        ticker = await opened(rig, 200, side)
        signed = 200 if side == "yes" else -200
        before = rig.lane.breaker.bankroll
        rig.sim.set_faults(order_429=1.0)  # every sell refused, three attempts
        rig.exit("STOP_LOSS")
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the attempts", 200)
        rig.sim.set_faults(order_429=0.0)
        state = rig.venue.state
        assert (state.state, state.position) == ("FLAT", None)
        orphan = state.orphans[ticker]
        assert (orphan.signed, orphan.cause) == (signed, "EXIT_FAILED")
        assert rig.account.position(ticker).position == signed
        [handed] = rig.closed()
        assert (handed.reason, handed.quarantine, handed.pnl) == ("ORPHANED", "ORPHANED", 0)
        assert notices
        assert notices[-1].startswith("errors: live: the STOP_LOSS exit")
        # The orphan is held at what it cost: the bankroll has not moved (but for the cash's
        # fraction of a cent, which the exchange's balance does not quote).
        assert rig.lane.breaker.bankroll == await balance(rig) + orphan.cost + orphan.fees
        assert 0 <= before - rig.lane.breaker.bankroll < MICROS_PER_CENT
        await rig.store_trade()  # the lane's record of it is stored before the orphan closes
        price = -(-orphan.cost // 200 // 100) * 100  # what it cost, to the cent above
        if end == "settled":  # its market closes first: the orphan check finds the result
            market = await rig.venue.rest.get_market(ticker)
            await rig.until(lambda: rig.now() >= market.close_ts + 3000, "the result", 300)
        # The reconciler's loop (its orphan check every second) on the stream's clock; to
        # recover it, another trader keeps a bid at what it cost (re-placed whenever the
        # maker's asks take it).
        stop = asyncio.Event()
        task = asyncio.create_task(reconciler.run(stop))
        try:
            for _ in range(300):
                if not state.orphans:
                    break
                if end == "recovered" and not resting(rig, "another-trader", ticker):
                    bids_at(rig, ticker, price, 200)
                await rig.step()
            assert not state.orphans, "the orphan never closed"
        finally:
            stop.set()
            await task
        await rig.until(rig.idle, "the orphan's cash told")
        orphan_trade = await sync_to_async(Trade.objects.get)(ticker=ticker, quarantined=False)
        assert orphan_trade.exit_reason == (
            "ORPHAN_RECOVERY" if end == "recovered" else "ORPHAN_SETTLED"
        )
        if end == "settled":
            # Closed on the result; the exchange pays a few seconds later, and until it has
            # the bankroll counts the payout due.
            result = (await rig.venue.rest.get_market(ticker)).result
            payout = 200 * 10_000 if result == side else 0
            paid = any(s.ticker == ticker for s in rig.account.settlements)
            assert rig.lane.breaker.bankroll == await balance(rig) + (0 if paid else payout)
            await rig.until(
                lambda: any(s.ticker == ticker for s in rig.account.settlements), "payout"
            )
        assert rig.account.position(ticker).position == 0
        bankroll = rig.lane.breaker.bankroll
        assert bankroll == await balance(rig)
        pnl = int(orphan_trade.pnl * MICROS_PER_DOLLAR)
        assert abs(bankroll - before - pnl) < MICROS_PER_CENT  # the cash's whole cents


async def test_a_restart_takes_the_venues_position_over_the_engines_snapshot():
    async with live_rig() as rig:
        reconciler = build_reconciler(rig.venue)
        assert (await reconciler.start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        saved = rig.engine.snapshot()  # the engine's last state save, before the ghost
        await sold_by_hand(rig, ticker, 200)
        await reconciler.reconcile("periodic")
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the ghost cleared")
        # A restart restores the engine's older snapshot, which still holds the position.
        rig.engine = Engine.restore(Params(), saved)
        assert rig.lane.position is not None
        rig.outputs.clear()
        rig.venue.start()
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the start")
        [closed] = [o for o in rig.outputs if isinstance(o, PositionClosed)]
        assert (closed.reason, closed.pnl) == ("RESTORED", 0)
        assert rig.lane.breaker.bankroll == await balance(rig)


def killed_at_the_order(rig: LiveRig, *, sell: bool, placed: bool) -> None:
    """The trader dies as its next entry (``sell`` False) or exit order goes out: before
    the exchange saw it, or once the exchange placed it (its answer never read)."""
    send = rig.venue.rest.create_order

    async def create_order(**order: Any) -> Any:
        if bool(order.get("reduce_only")) != sell:
            return await send(**order)
        if placed:
            await send(**order)
        await asyncio.Event().wait()  # killed: nothing after this runs

    rig.venue.rest.create_order = create_order  # type: ignore[method-assign]


async def restarted(rig: LiveRig, saved: dict[str, Any], *, wait: bool = True) -> None:
    """kill -9, then a restart: the venue's tasks die where they are; a new venue restores
    the durable row, the engine the state it saved last (``saved``), told its venue's run
    (as ``Session`` does); the venue starts. ``wait`` False: no time passes after it."""
    await rig.venue.aclose()
    await rig.venue.rest.aclose()
    rig.venue = await build_live_venue(
        api_url=rig.sim.kalshi_api_url,
        signer=KalshiSigner.from_pem(rig.sim.key_id, rig.sim.private_key_pem),
        simulated=True,
        start_ms=rig.now(),
    )
    rig.engine = Engine.restore(Params(), saved)
    rig.engine.trade_on_exchange("live", rig.venue.exchange_run)
    rig.outputs.clear()
    rig.venue.start()
    if wait:
        await rig.until(rig.idle, "the start")


async def in_flight_row(rig: LiveRig) -> dict[str, Any]:
    row = await sync_to_async(LivePositionState.objects.get)(lane="live")
    return row.data


@pytest.mark.parametrize("saved", ["with the order", "before the order"])
@pytest.mark.parametrize("placed", [False, True], ids=["not seen", "placed"])
async def test_a_kill_during_an_entry_is_resolved_at_the_restart_and_the_lane_trades_on(
    placed, saved
):
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        market = await rig.market()
        _bid, ask = await rig.best(market.ticker)
        before = rig.engine.snapshot()
        killed_at_the_order(rig, sell=False, placed=placed)
        intent = rig.enter(market.ticker, "yes", ask + 200, 200)
        await rig.until(lambda: rig.venue.state.unresolved is not None, "the order sent")
        await rig.step(2)
        row = await in_flight_row(rig)
        assert row["state"] == "ENTERING"  # the order is on the row before it is sent
        assert row["unresolved"]["client_order_id"] == intent.client_order_id
        held = rig.account.position(market.ticker).position
        assert (held > 0) == placed
        await restarted(rig, rig.engine.snapshot() if saved == "with the order" else before)
        state, lane = rig.venue.state, rig.lane
        assert lane.orders == {}  # nothing waits for an answer that never comes
        assert state.unresolved is None
        assert (await build_reconciler(rig.venue).start()).actions == []  # the exchange's
        if not placed:
            assert (state.state, state.position, lane.position) == ("FLAT", None, None)
            assert rig.lane.breaker.bankroll == await balance(rig)
            await rig.step(31)  # the ticker's phantom-entry cooldown
            await opened(rig, 100)  # the lane trades on
            return
        assert state.state == "OPEN"
        assert state.position is not None
        assert state.position.count == lane.position.count == held
        cash = fill_cash(rig.account, market.ticker)
        assert (lane.position.cost, lane.position.entry_fees) == (cash.bought, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig) + open_cost(rig)
        rig.exit("TIME_EXIT")
        await rig.until(
            lambda: state.state == "FLAT" and rig.idle() and rig.lane.position is None, "the exit"
        )
        [trade] = rig.closed()
        cash = fill_cash(rig.account, market.ticker)
        assert trade.quarantine == ""
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig)


async def killed_at_an_exit(
    rig: LiveRig, *, placed: bool
) -> tuple[str, dict[str, Any], ClosePosition]:
    """A position of 2 open, the engine's state saved, then the trader killed at its exit
    order (``placed``: after the exchange placed it): (ticker, that state, the exit)."""
    assert (await build_reconciler(rig.venue).start()).ok
    await started(rig)
    ticker = await opened(rig, 200)
    before = rig.engine.snapshot()
    killed_at_the_order(rig, sell=True, placed=placed)
    killed = rig.exit("TIME_EXIT")
    await rig.until(lambda: rig.venue.state.unresolved is not None, "the exit sent")
    return ticker, before, killed


@pytest.mark.parametrize("saved", ["with the exit order", "before the exit"])
async def test_a_kill_after_an_exit_was_placed_books_the_sale_at_the_restart(saved):
    async with live_rig() as rig:
        ticker, before, _killed = await killed_at_an_exit(rig, placed=True)
        await rig.step(2)
        assert (await in_flight_row(rig))["state"] == "EXITING"
        assert rig.account.position(ticker).position == 0  # the exchange sold it all
        await restarted(rig, rig.engine.snapshot() if saved == "with the exit order" else before)
        state = rig.venue.state
        assert (state.state, state.position, state.unresolved) == ("FLAT", None, None)
        assert state.round_trips == 1  # this round trip, counted once
        [trade] = rig.closed()
        assert (trade.reason, trade.quarantine, trade.fill_source) == ("TIME_EXIT", "", "venue_ioc")
        cash = fill_cash(rig.account, ticker)
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert trade.pnl == cash.sold - cash.bought - cash.fees
        assert rig.lane.breaker.bankroll == await balance(rig)
        [check] = rig.venue.checks  # §3.18: the round trip's check, as for any exit
        assert (check["reason"], check["pnl"]) == ("TIME_EXIT", trade.pnl)
        assert "no exit order id" not in check["anomalies"]
        assert (await build_reconciler(rig.venue).start()).actions == []
        sells = [o for o in rig.orders_on(ticker) if o.request.action == "sell"]
        assert len(sells) == 1  # and no exit for what the account no longer holds


async def test_an_exit_for_a_market_the_account_holds_nothing_on_sends_no_order():
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        await sold_by_hand(rig, ticker, 200)
        rig.venue.state.position = None  # the venue lost track of it (as after a desync)
        rig.venue.state.to("FLAT")
        orders = len(rig.orders_on(ticker))
        rig.exit("STOP_LOSS")
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the exit ended")
        assert len(rig.orders_on(ticker)) == orders
        [ghost] = rig.closed()
        assert (ghost.reason, ghost.pnl) == ("RECONCILE_GHOST", 0)


async def test_a_restarted_engine_gives_its_orders_ids_no_earlier_run_used():
    """The engine's saved state predates an exit the kill cut short before the exchange saw
    it; the restarted engine, on the same market at the same moment (the clock held across
    the restart, as the chaos harness holds it), exits again: with an id of its own, so the
    venue's account of the killed order and the new exit's sale are told apart, and the
    sale is booked."""
    async with live_rig() as rig:
        ticker, before, killed = await killed_at_an_exit(rig, placed=False)
        await restarted(rig, before, wait=False)
        again = rig.exit("TIME_EXIT")  # the same decision, at the saved state's moment
        assert again.ts == killed.ts
        assert again.client_order_id != killed.client_order_id
        await rig.until(
            lambda: rig.venue.state.state == "FLAT" and rig.idle() and rig.lane.position is None,
            "the exit",
        )
        [trade] = rig.closed()
        cash = fill_cash(rig.account, ticker)
        assert (trade.reason, trade.quarantine) == ("TIME_EXIT", "")
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig)
        sent = [o.client_order_id for o in rig.orders_on(ticker)]
        assert len(sent) == len(set(sent)) == 2  # the entry and the new exit
        # The next run's ids are its own again.
        runs = rig.venue.exchange_run
        await restarted(rig, rig.engine.snapshot())
        assert rig.venue.exchange_run == runs + 1


@pytest.mark.parametrize("row", ["OPEN", "DESYNC", "FLAT"])
@pytest.mark.parametrize("saved", ["before the exit", "after the exit"])
async def test_an_exit_the_saved_states_missed_is_booked_from_the_fills_at_the_restart(row, saved):
    """Issue #23's outage: the trader's database is away while the lane's exit sells, and a
    kill as it returns loses what was queued: the venue's state writes (its row left OPEN,
    or DESYNC on the write's error; or the row written, FLAT) and the engine's state and
    trade row (its saved state from before the sale). The restart books the sale from the
    exchange's fills, once, whatever either saved state knew of it."""
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        durable = await in_flight_row(rig)  # the venue's last write that reached the database
        before = rig.engine.snapshot()
        rig.exit("STOP_LOSS")
        await rig.until(
            lambda: rig.venue.state.state == "FLAT" and rig.idle() and rig.lane.position is None,
            "the exit",
        )
        assert rig.account.position(ticker).position == 0  # the exchange sold it all
        [sold] = rig.closed()
        if row != "FLAT":  # none of the venue's writes since reached the row
            if row == "DESYNC":
                durable = {**durable, "state": "DESYNC", "desync_reason": "OperationalError"}
            await sync_to_async(save_live_state)("live", durable)
        engine_saved = before if saved == "before the exit" else rig.engine.snapshot()
        await restarted(rig, engine_saved, wait=False)
        rig.outputs[:0] = rig.engine.start_records()  # what the sinks hear of the restart
        await rig.until(rig.idle, "the start")
        state = rig.venue.state
        assert (state.state, state.position, state.unresolved) == ("FLAT", None, None)
        assert rig.lane.position is None
        assert (await build_reconciler(rig.venue).start()).actions == []  # the exchange's
        cash = fill_cash(rig.account, ticker)
        # The venue's row knew the exit's reason; else neither saved state did: a label.
        reason = "STOP_LOSS" if row == "FLAT" else MISSED_EXIT
        if saved == "after the exit":
            assert rig.closed() == []  # booked before the kill: never twice
            trade = sold
        else:
            [trade] = rig.closed()
            # The same rules as before the kill (a stop loss this soon is quarantined).
            quarantine = sold.quarantine if reason == sold.reason else ""
            assert (trade.reason, trade.quarantine) == (reason, quarantine)
            await rig.store_trade()
            stored = await sync_to_async(Trade.objects.get)(position_uid=trade.position_uid)
            assert (stored.exit_reason, stored.quarantined) == (reason, bool(quarantine))
            assert int(stored.pnl * MICROS_PER_DOLLAR) == cash.sold - cash.bought - cash.fees
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig)
        assert state.round_trips == 1  # counted once
        if row != "FLAT":  # the venue's own account of the round trip, at the restart
            [check] = rig.venue.checks
            assert check["pnl"] == cash.sold - cash.bought - cash.fees
        sells = [o for o in rig.orders_on(ticker) if o.request.action == "sell"]
        assert len(sells) == 1  # and no exit for what the account no longer holds


async def test_an_exit_sold_after_a_failed_state_write_is_booked_once_at_the_restart():
    """The outage as the chaos run met it: the venue's write before the stop loss's order
    fails (DESYNC on the error, nothing sent), the exit is asked again as the database
    returns and sells, and the kill comes before the engine's state and trade row are
    written. The restart books the sale from the exchange's fills."""
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        before = rig.engine.snapshot()
        write = rig.venue.persist
        failed: list[str] = []

        async def outage(data: dict[str, Any]) -> None:
            if not failed:
                failed.append(data["state"])
                raise OperationalError("the server closed the connection unexpectedly")
            await write(data)

        rig.venue.persist = outage
        rig.exit("STOP_LOSS")
        await rig.until(lambda: rig.venue.state.state == "DESYNC" and rig.idle(), "the failure")
        assert rig.account.position(ticker).position == 200  # nothing was sent
        assert rig.lane.position is not None
        rig.exit("STOP_LOSS")  # the database is back
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the exit")
        assert rig.account.position(ticker).position == 0
        row = await in_flight_row(rig)
        assert (row["state"], row["position"]["count"]) == ("DESYNC", 0)
        await restarted(rig, before)
        [trade] = rig.closed()
        cash = fill_cash(rig.account, ticker)
        assert trade.reason == "STOP_LOSS"
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.position is None
        assert rig.lane.breaker.bankroll == await balance(rig)
        report = await build_reconciler(rig.venue).start()  # the doubt is cleared
        assert [a.kind for a in report.actions] == ["clear_ghost", "resolve_desync"]
        assert (rig.venue.state.state, rig.venue.state.position) == ("FLAT", None)
        await rig.until(rig.idle, "the engine told")
        assert rig.closed() == [trade]  # never twice
        assert rig.lane.breaker.bankroll == await balance(rig)


@pytest.mark.parametrize("saved", ["with the position", "before the entry"])
@pytest.mark.parametrize("down", ["past the settlement", "past the close"])
async def test_a_position_whose_market_closed_while_the_trader_was_down_is_settled_not_sold(
    down, saved
):
    """Issue #23's outage run: the trader is down across its position's close; the engine's
    saved state, older, still holds the position on an open market and exits it at its
    first tick (or predates the entry: the chaos run's settling kill). The restart settles
    it from the exchange (or, closed with no result yet, waits for the result), the engine
    books it, and no sell goes to the closed market."""
    async with live_rig(start_ms=NEAR_CLOSE) as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        before = rig.engine.snapshot()
        ticker = await opened(rig, 200)
        if saved == "with the position":
            before = rig.engine.snapshot()
        await rig.venue.aclose()  # kill -9: the clock runs on while the trader is down
        schedule = rig.sim.exchange.core.schedule.by_ticker(ticker, rig.now())
        assert schedule is not None
        until = schedule.settle_ts + 2000 if down == "past the settlement" else schedule.close_ts
        while rig.now() <= until:
            await rig.sim.advance(1)
        rig.events.clear()  # what the stream said while it was down
        paid = any(s.ticker == ticker for s in rig.account.settlements)
        assert paid == (down == "past the settlement")
        await restarted(rig, before, wait=False)
        if saved == "with the position":  # on a market it thinks open: its first tick exits
            rig.exit("EXPIRY_GUARD")
        if down == "past the settlement":
            await rig.until(rig.idle, "the start and the exit")
        else:  # the clock held (a step could bring the result): the start and the exit end
            await wait_for(lambda: not rig.venue.tasks, "the start and the exit")
            rig.feed(ClockTick(ts=rig.now()))  # the engine hears what they reported
        market = await rig.venue.rest.get_market(ticker)
        if down == "past the close":
            assert rig.closed() == []  # no result yet: it waits for it
            assert rig.lane.position is not None
            await rig.until(lambda: rig.now() > schedule.settle_ts + 1000, "the settlement", 60)
            market = await rig.venue.rest.get_market(ticker)
            rig.feed(rig.status(market, "finalized", market.result))
            await rig.until(lambda: rig.idle() and rig.lane.position is None, "settled")
        assert market.result in ("yes", "no")
        sells = [o for o in rig.orders_on(ticker) if o.request.action == "sell"]
        assert sells == []  # nothing was sent to the closed market
        [trade] = rig.closed()
        cash = fill_cash(rig.account, ticker)
        assert trade.reason == "CONTRACT_SETTLED"
        assert cash.sold == 0
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.settled, cash.fees)
        state = rig.venue.state
        assert (state.state, state.position, state.round_trips) == ("FLAT", None, 1)
        assert rig.lane.breaker.bankroll == await balance(rig)


async def test_an_entry_the_engines_saved_state_predates_is_opened_at_the_restart():
    """A kill after an entry filled, before the engine's state was saved: the restarted
    engine holds the venue's position (its cost and fees the exchange's), exits it, and
    the round trip is booked with the exchange's money."""
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        before = rig.engine.snapshot()
        ticker = await opened(rig, 200)
        await restarted(rig, before)
        position = rig.lane.position
        assert position is not None
        assert position.ticker == ticker
        assert position.count == 200
        cash = fill_cash(rig.account, ticker)
        assert (position.cost, position.entry_fees) == (cash.bought, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig) + cash.bought + cash.fees
        assert (await build_reconciler(rig.venue).start()).actions == []
        rig.exit("TIME_EXIT")
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the exit")
        [trade] = rig.closed()
        cash = fill_cash(rig.account, ticker)
        assert (trade.reason, trade.quarantine) == ("TIME_EXIT", "")
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig)
        # A second restart, the engine's state now current: nothing is booked again.
        await restarted(rig, rig.engine.snapshot())
        assert rig.closed() == []
        assert rig.lane.position is None
        assert rig.lane.breaker.bankroll == await balance(rig)


async def test_a_saved_state_older_than_a_whole_round_trip_and_the_next_entry_books_both():
    """The engine's saved state holds a position the lane has since sold; the lane has
    entered the next market since. The restart books that sale (the last round trip told
    again) and opens the new position, each with the exchange's money."""
    async with live_rig(start_ms=NEAR_CLOSE - 4 * 60_000) as rig:  # bids to sell into
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        first = await opened(rig, 200)
        before = rig.engine.snapshot()  # holding the first position
        rig.exit("TIME_EXIT")
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the exit")
        [sold] = rig.closed()
        market = await rig.venue.rest.get_market(first)
        await rig.until(lambda: rig.now() > market.close_ts + 1000, "the next market", 400)
        second = await opened(rig, 200)
        assert second != first
        await restarted(rig, before)
        [trade] = rig.closed()
        cash = fill_cash(rig.account, first)
        assert (trade.ticker, trade.reason) == (first, "TIME_EXIT")
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert trade.pnl == sold.pnl
        position = rig.lane.position
        assert position is not None
        assert (position.ticker, position.count) == (second, 200)
        held = fill_cash(rig.account, second)
        assert (position.cost, position.entry_fees) == (held.bought, held.fees)
        assert rig.lane.breaker.bankroll == await balance(rig) + held.bought + held.fees


async def test_an_exit_killed_at_its_retry_books_every_attempt_when_the_engine_never_knew_it():
    """The exit's first attempt sells part (an expiry exit floored inside the spread,
    where another trader bids for one contract), the kill comes at its retry, and the
    engine's saved state predates the exit: the restart books the first attempt's sale
    too, and the round trip's money is the exchange's."""
    async with live_rig() as rig:
        assert (await build_reconciler(rig.venue).start()).ok
        await started(rig)
        ticker = await opened(rig, 200)
        before = rig.engine.snapshot()
        send = rig.venue.rest.create_order
        sells: list[str] = []

        async def create_order(**order: Any) -> Any:
            if order.get("reduce_only"):
                sells.append(order["client_order_id"])
                if len(sells) == 2:
                    await asyncio.Event().wait()  # killed before the exchange saw the retry
            return await send(**order)

        rig.venue.rest.create_order = create_order  # type: ignore[method-assign]
        bid, ask = await rig.roomy_spread(ticker)
        floor = bid + (ask - bid) // 200 * 100
        bids_at(rig, ticker, floor, 100)  # one contract to sell into at the floor
        rig.venue.settings = LiveSettings(
            expiry_first_floor_cents=floor // 100, expiry_final_attempt_max_aggressive=False
        )
        rig.exit("EXPIRY_GUARD")
        # Its order reaches the book before simulated time moves (the maker's next quotes
        # could take that bid first).
        await wait_for(
            lambda: any(o.request.action == "sell" for o in rig.orders_on(ticker)), "the exit"
        )
        await rig.until(lambda: len(sells) == 2, "the retry", 60)
        assert rig.account.position(ticker).position == 100  # the first attempt sold one
        await restarted(rig, before)
        position = rig.lane.position
        assert position is not None
        assert position.count == 100
        assert rig.lane.breaker.bankroll == await balance(rig) + position.cost + position.entry_fees
        rig.exit("TIME_EXIT")  # the new run's venue: the usual 1 ¢ floor
        await rig.until(lambda: rig.idle() and rig.lane.position is None, "the exit")
        [trade] = rig.closed()
        cash = fill_cash(rig.account, ticker)
        assert (trade.cost, trade.proceeds, trade.fees) == (cash.bought, cash.sold, cash.fees)
        assert rig.lane.breaker.bankroll == await balance(rig)
