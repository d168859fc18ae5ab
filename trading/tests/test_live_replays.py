"""The incident replay suite (domain.md §3.19): the original's incidents, replayed against
the live lane — the Kalshi venue with its real REST client over 127.0.0.1, its reconciler
and an engine lane of kind ``live`` — with the exchange's answers scripted
(``scripted_exchange``): stale positions after a settlement or an exit, every position
query failing, resting orders of a previous run.

Every scenario holds the adoption rules of §3.17.7 to account: replace never add
(BUG-015), the settled set and the 90 s exit cooldown suppress re-adoption and survive a
restart (BUG-008), orphan trades deduplicated.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from trading.models import LiveOrphan, Trade
from trading.runtime.live_safety import _at, record_orphan_close, sync_orphan_rows
from trading.tests.scripted_exchange import (
    T0,
    WINDOW,
    Script,
    ScriptedMarket,
    ScriptedPosition,
    script_rig,
    ticker_at,
)
from trading.venues.base import VenueReport
from trading.venues.live_position import EXIT_COOLDOWN_MS, PositionManagerState
from trading.venues.orphans import check_orphans

T = ticker_at(0)
OTHER = ticker_at(1)


def markets(*tickers: str) -> dict[str, ScriptedMarket]:
    return {
        t: ScriptedMarket(open_ts=T0 + k * WINDOW, close_ts=T0 + (k + 1) * WINDOW)
        for k, t in enumerate(tickers)
    }


def restored(data: dict) -> PositionManagerState:
    """What a restart finds: the last persisted row, through the §3.17.8 restore rules."""
    return PositionManagerState.from_dict(data)


# --- 1. settlement verify failure (trades 451/454) -----------------------------------------


async def test_1_settlement_with_every_position_query_failing_books_the_trade_and_no_orphan():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "no", 2500, 100)  # short 1 @ 25 ¢
        assert rig.state.state == "OPEN"
        assert script.positions[T].signed == -100
        script.positions_fail = True
        rig.clock.forward(13 * 60)  # past the close
        script.markets[T].status, script.markets[T].result = "determined", "no"
        await rig.status(T, "determined", "no")
        [closed] = rig.closed()
        assert closed.pnl > 0  # NO won: $1 for a 75 ¢ premium
        assert closed.reason == "CONTRACT_SETTLED_VERIFY_FAILED"
        assert closed.quarantine == ""  # a trade, not an errored one: the money moved
        # §3.18: its check says why an operator should look, beside the trade.
        [check] = rig.venue.checks
        assert check["anomalies"] == ["reason CONTRACT_SETTLED_VERIFY_FAILED"]
        assert check["flagged"] == "TRADE_ANOMALY: reason CONTRACT_SETTLED_VERIFY_FAILED"
        assert check["pnl"] == closed.pnl  # the payout less what the entry cost
        state = rig.state
        assert state.state == "FLAT"
        assert state.position is None
        assert state.orphans == {}
        assert T in state.settled_tickers
        assert state.cooldowns[T] >= rig.now() + EXIT_COOLDOWN_MS - 10_000
        assert state.round_trips == 1
        # The next reconciliation still sees the stale −1: no orphan.
        script.positions_fail = False
        report = await rig.reconciler.reconcile("periodic")
        assert report.ok
        assert rig.state.orphans == {}
        saved = rig.saved[-1]
    # Snapshot → restore (cooldown long over) → reconcile: still no orphan.
    async with script_rig(script, state=restored(saved), start_ms=T0 + WINDOW + 600_000) as rig:
        assert T in rig.state.settled_tickers
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"


# --- 2. phantom accumulation (BUG-015, trade 431) -------------------------------------------


@pytest.mark.parametrize("cycles", [70, 200])
async def test_2_repeated_reconciliation_adopts_one_orphan_with_the_exchange_count(cycles):
    script = Script(markets=markets(T), positions={T: ScriptedPosition(600, cost=600 * 4000)})
    async with script_rig(script) as rig:
        for _ in range(cycles):
            assert (await rig.reconciler.reconcile("periodic")).ok
            rig.clock.forward(1)
        assert list(rig.state.orphans) == [T]
        assert rig.state.orphans[T].signed == 600
        assert rig.state.orphans[T].cost == 600 * 4000
        # Direct re-adoption with a different count replaces it, never adds.
        rig.state.adopt_orphan(T, 400, "RECONCILE", rig.now())
        assert rig.state.orphans[T].signed == 400
        # ... and the exchange's count comes back on the next pass.
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 600
        # The orphan blocks entries, with the reason.
        assert "orphans held" in rig.state.entry_refusal(OTHER, rig.now(), None)


# --- 3. restart wipes settled tickers --------------------------------------------------------


async def test_3_settled_tickers_survive_a_restart_and_suppress_adoption():
    settled = [ticker_at(k) for k in range(3)]
    script = Script(
        markets=markets(*settled),
        positions={t: ScriptedPosition(1200, cost=1200 * 5000) for t in settled},
    )
    before = PositionManagerState(settled_tickers=list(settled))
    after = restored(before.to_dict())
    assert after.settled_tickers == settled  # every settled ticker round-trips
    async with script_rig(script, state=after, start_ms=T0 + 3 * WINDOW) as rig:
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"
    # Control: the same stale positions with an empty settled set are adopted.
    async with script_rig(script, start_ms=T0 + 3 * WINDOW) as rig:
        assert (await rig.reconciler.start()).ok
        assert sorted(rig.state.orphans) == sorted(settled)
        assert all(o.signed == 1200 for o in rig.state.orphans.values())


# --- 4. exit cooldown race -------------------------------------------------------------------


async def test_4_a_stale_position_just_after_an_exit_is_not_adopted_until_the_cooldown_ends():
    script = Script(markets=markets(T))
    script.markets[T].yes_bids = [(4000, 100_000)]
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 200)
        assert rig.state.state == "OPEN"
        rig.clock.forward(30)
        await rig.exit("TIME_EXIT")
        assert rig.state.state == "FLAT"  # the exit verified flat ...
        script.positions[T] = ScriptedPosition(200, cost=200 * 4200)  # ... then a stale read
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans == {}
        # 200 s later the cooldown is over: the same position is adopted.
        rig.clock.forward(200)
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 200


async def test_4b_a_settlement_starts_the_cooldown_too():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 200)
        rig.clock.forward(13 * 60)
        script.markets[T].status, script.markets[T].result = "determined", "yes"
        script.positions[T] = ScriptedPosition(0)  # the settlement verified flat
        await rig.status(T, "determined", "yes")
        assert rig.state.state == "FLAT"
        assert rig.state.cooldowns[T] > rig.now()
        script.positions[T] = ScriptedPosition(200)  # then a stale listing
        rig.state.settled_tickers.clear()  # only the cooldown stands in the way
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans == {}


# --- 5. full lifecycle -----------------------------------------------------------------------


async def test_5_hold_settle_with_verify_failure_restart_and_reconcile_a_stale_position():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "no", 2500, 500)  # short 5 @ 25 ¢
        assert rig.state.position is not None
        assert rig.state.position.signed == -500
        script.positions_fail = True
        rig.clock.forward(13 * 60)
        script.markets[T].status, script.markets[T].result = "finalized", "no"
        await rig.status(T, "finalized", "no")
        assert rig.closed()[-1].pnl > 0
        assert rig.closed()[-1].reason == "CONTRACT_SETTLED_VERIFY_FAILED"
        saved = rig.saved[-1]
    script.positions_fail = False
    assert script.positions[T].signed == -500  # stale
    async with script_rig(script, state=restored(saved), start_ms=T0 + WINDOW + 300_000) as rig:
        assert rig.state.cooldowns.get(T, 0) < rig.now()  # only the settled set protects it
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"


# --- 6. orphan-to-trade dedup ------------------------------------------------------------------


@pytest.fixture
async def _orm_threads():
    yield
    await sync_to_async(connections.close_all)()


async def _settled_orphan_close(script: Script, rig) -> list:
    script.markets[T].status, script.markets[T].result = "determined", "yes"
    return await check_orphans(rig.venue)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_orm_threads")
@pytest.mark.parametrize(("minutes_ago", "inserted"), [(2, False), (6, True)])
async def test_6_an_orphan_close_is_not_booked_over_a_live_trade_of_the_last_5_minutes(
    minutes_ago, inserted
):
    script = Script(markets=markets(T), positions={T: ScriptedPosition(300, cost=300 * 4000)})
    async with script_rig(script, start_ms=T0 + WINDOW + 60_000) as rig:
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 300
        await sync_to_async(sync_orphan_rows)("live", dict(rig.state.orphans), rig.now())
        now = rig.now()
        live_trade = await sync_to_async(_live_trade)(now - minutes_ago * 60_000)
        [close] = await _settled_orphan_close(script, rig)
        assert close.reason == "ORPHAN_SETTLED"
        assert close.proceeds == 300 * 10_000  # YES won: $1 a contract
        assert close.pnl == 300 * 10_000 - 300 * 4000
        trade = await sync_to_async(record_orphan_close)("live", close)
        assert (trade is not None) is inserted
        await sync_to_async(sync_orphan_rows)("live", dict(rig.state.orphans), rig.now())
        rows = await sync_to_async(lambda: list(Trade.objects.filter(ticker=T)))()
        assert len(rows) == (2 if inserted else 1)
        assert any(r.position_uid == live_trade.position_uid for r in rows)
        orphan_row = await sync_to_async(LiveOrphan.objects.get)(ticker=T)
        assert orphan_row.closed_at is not None
        assert orphan_row.close_reason.startswith("ORPHAN_SETTLED")
        if trade is not None:
            assert trade.pnl == Decimal("1.800000")
            assert trade.exit_reason == "ORPHAN_SETTLED"
        assert rig.state.orphans == {}
        assert T in rig.state.settled_tickers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_orm_threads")
async def test_6b_the_orphan_of_an_exit_that_sold_nothing_is_booked_after_a_recent_trade():
    """An earlier position's trade on the ticker does not make the handed-off position's
    orphan close a duplicate: the lane booked none of its contracts."""
    script = Script(markets=markets(T), positions={T: ScriptedPosition(300, cost=300 * 4000)})
    async with script_rig(script, start_ms=T0 + WINDOW + 60_000) as rig:
        await rig.reconciler.reconcile("periodic")
        await sync_to_async(_live_trade)(rig.now() - 2 * 60_000)
        [close] = await _settled_orphan_close(script, rig)
        trade = await sync_to_async(record_orphan_close)(
            "live", dataclasses.replace(close, cause="EXIT_FAILED")
        )
        assert trade is not None
        assert trade.exit_reason == "ORPHAN_SETTLED"
        assert await sync_to_async(Trade.objects.filter(ticker=T).count)() == 2


def _live_trade(closed_ms: int, reason: str = "CONTRACT_SETTLED") -> Trade:
    at = _at(closed_ms)
    return Trade.objects.create(
        lane="live",
        ticker=T,
        direction="long",
        entry_price=Decimal("0.4"),
        exit_price=Decimal("1"),
        opened_at=at - timedelta(minutes=5),
        closed_at=at,
        contracts=Decimal(3),
        entry_cost=Decimal("1.2"),
        exit_proceeds=Decimal("3"),
        fees=Decimal("0"),
        pnl=Decimal("1.8"),
        pnl_pct=1.5,
        exit_reason=reason,
        fill_source="settlement_won",
        position_uid=f"live-{closed_ms}",
    )


# --- other behaviour pinned by the original's unit tests ------------------------------------


def _resting(order_id: str, ticker: str) -> dict:
    return {
        "order_id": order_id,
        "client_order_id": f"old-{order_id}",
        "ticker": ticker,
        "side": "yes",
        "action": "buy",
        "status": "resting",
        "yes_price_dollars": "0.1000",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "5.00",
        "initial_count_fp": "5.00",
        "created_time": "2026-01-01T00:00:00Z",
    }


async def test_entries_are_refused_until_the_start_reconciliation_passes_and_say_why():
    script = Script(markets=markets(T), positions_fail=True)
    async with script_rig(script) as rig:
        report = await rig.reconciler.start()
        assert not report.ok
        assert not rig.reconciler.passed
        health = rig.reconciler.health()["live_reconcile"]
        assert health["passed"] is False
        assert "start reconciliation failed" in health["reason"]
        await rig.enter(T, "yes", 4200, 100)
        refused = [
            o for o in rig.outputs if isinstance(o, VenueReport) and o.reason.startswith("refused")
        ]
        assert "reconciliation: start reconciliation failed" in refused[-1].reason
        assert script.created == []  # nothing reached the exchange
        script.positions_fail = False
        assert (await rig.reconciler.start()).ok
        assert rig.reconciler.gate() == ""
        await rig.enter(T, "yes", 4200, 100)
        assert rig.state.state == "OPEN"


async def test_the_start_cancels_the_previous_runs_resting_orders_and_a_404_is_success():
    script = Script(
        markets=markets(T),
        resting=[_resting("a", T), _resting("b", OTHER), _resting("c", "INXD-26JAN01-B5000")],
        cancel_404={"b"},  # already terminal by the time we ask
    )
    async with script_rig(script) as rig:
        report = await rig.reconciler.start()
        assert report.ok
        assert report.cancelled == ["a", "b"]
        assert script.cancelled == ["a"]
        assert [o["status"] for o in script.resting] == ["canceled", "resting", "resting"]


async def test_a_restored_position_the_exchange_does_not_hold_is_a_ghost_and_is_cleared():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 300)
        saved = rig.saved[-1]
    script.positions.clear()  # sold by hand while we were away
    async with script_rig(script, state=restored(saved)) as rig:
        assert rig.state.state == "OPEN"
        assert (await rig.reconciler.start()).ok
        assert rig.state.state == "FLAT"
        assert rig.state.position is None
        assert rig.state.orphans == {}


async def test_the_tracked_count_is_set_to_the_exchange_count_never_added_to():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 300)
        script.positions[T].signed = 200
        for _ in range(3):
            await rig.reconciler.reconcile("periodic")
        assert rig.state.position is not None
        assert rig.state.position.signed == 200
        assert rig.state.state == "OPEN"


async def test_desync_resolves_open_on_a_confirmed_position_and_flat_without_one():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 300)
        rig.state.desync("test: exchange mismatch")
        script.positions[T].signed = 200
        await rig.reconciler.reconcile("reconnect")
        assert rig.state.state == "OPEN"
        assert rig.state.desync_reason == ""
        await rig.settle_tasks()  # the engine hears the exchange's count
        lane = rig.engine.lanes["live"]
        assert lane.position is not None
        assert lane.position.count == 200
        # The exchange then holds nothing: a desync resolved FLAT is a ghost to the engine.
        rig.state.desync("test: exchange mismatch again")
        script.positions.clear()
        await rig.reconciler.reconcile("reconnect")
        assert rig.state.state == "FLAT"
        await rig.settle_tasks()
        assert lane.position is None
        assert [c.reason for c in rig.closed()] == ["RECONCILE_GHOST"]
    async with script_rig(Script(markets=markets(T))) as rig:
        rig.state.desync("entry check failed")
        assert (await rig.reconciler.start()).ok
        assert rig.state.state == "FLAT"


async def test_an_oversized_untracked_position_is_closed_at_once_not_adopted():
    big = 3 * 50 * 100 + 100  # 151 contracts: over 3 × max_live_contracts
    script = Script(markets=markets(T), positions={T: ScriptedPosition(big, cost=big * 3000)})
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        [order] = script.created
        assert order["action"] == "sell"
        assert order["initial_count_fp"] == "151.00"
        assert order["yes_price_dollars"] == "0.0100"  # the 1 ¢ floor
        assert script.positions[T].signed == 0
        assert rig.state.orphans == {}


async def test_an_oversized_position_that_does_not_sell_is_adopted():
    big = 200 * 100
    script = Script(
        markets=markets(T),
        positions={T: ScriptedPosition(-big, cost=big * 3000)},
        fill=lambda *order: 0,
    )
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans[T].signed == -big


async def test_the_orphan_check_waits_on_an_empty_result_then_closes_at_the_result():
    script = Script(markets=markets(T), positions={T: ScriptedPosition(-400, cost=400 * 7000)})
    async with script_rig(script) as rig:
        await rig.reconciler.start()
        assert rig.state.orphans[T].signed == -400
        script.markets[T].status = "closed"  # closed, result "" (BUG-022)
        assert await check_orphans(rig.venue) == []
        assert T in rig.state.orphans
        script.markets[T].status, script.markets[T].result = "determined", "yes"
        [close] = await check_orphans(rig.venue)
        assert close.reason == "ORPHAN_SETTLED"
        assert close.side == "no"
        assert close.proceeds == 0  # NO lost
        assert close.pnl == -400 * 7000
        assert close.entry_yes_price == 3000
        assert rig.state.orphans == {}
        assert rig.state.round_trips == 1
        assert rig.state.entry_refusal(OTHER, rig.now(), None) == ""


async def test_a_won_orphan_closed_before_the_exchange_pays_counts_its_payout_in_the_bankroll():
    script = Script(markets=markets(T), positions={T: ScriptedPosition(-400, cost=400 * 7000)})
    async with script_rig(script) as rig:
        await rig.reconciler.start()
        lane = rig.engine.lanes["live"]
        script.markets[T].status, script.markets[T].result = "determined", "no"
        [close] = await check_orphans(rig.venue)  # NO won: $4 due, the exchange still lists it
        assert close.proceeds == 400 * 10_000
        await rig.settle_tasks()
        cash = script.balance_cents * 10_000
        assert lane.breaker.bankroll == cash + close.proceeds
        # Paid: the position gone, the cash up by the payout; the next sync agrees.
        script.positions.clear()
        script.balance_cents += 400
        async with rig.venue.lock:
            await rig.venue.sync_balance()
        await rig.settle_tasks()
        assert lane.breaker.bankroll == cash + close.proceeds


async def test_an_orphan_recovers_at_a_bid_at_or_above_its_cost_and_keeps_the_unsold_rest():
    script = Script(
        markets=markets(T),
        positions={T: ScriptedPosition(500, cost=500 * 4000)},
        fill=lambda ticker, side, action, price, count: 300,  # 3 of 5 sell
    )
    script.markets[T].yes_bids = [(3900, 10_000)]
    async with script_rig(script) as rig:
        await rig.reconciler.start()
        assert await check_orphans(rig.venue) == []  # bid 39 ¢ < 40 ¢ paid: kept
        script.markets[T].yes_bids = [(4100, 10_000)]
        [close] = await check_orphans(rig.venue)
        assert close.reason == "ORPHAN_RECOVERY"
        assert close.count == 300
        assert close.proceeds == 300 * 4100
        assert close.entry_cost == 300 * 4000
        assert close.pnl == 300 * 100
        assert script.created[-1]["yes_price_dollars"] == "0.4100"
        rest = rig.state.orphans[T]
        assert rest.signed == 200
        assert rest.counted
        assert rest.cost == 200 * 4000
        assert rig.state.round_trips == 1
        # The rest settles later: the round trip is not counted twice.
        script.markets[T].status, script.markets[T].result = "determined", "yes"
        [final] = await check_orphans(rig.venue)
        assert final.count == 200
        assert rig.state.round_trips == 1


async def test_an_orphan_sold_outside_kbtc_is_dropped_without_a_trade():
    script = Script(markets=markets(T), positions={T: ScriptedPosition(200, cost=200 * 4000)})
    async with script_rig(script) as rig:
        await rig.reconciler.start()
        script.positions[T].signed = 0
        assert await check_orphans(rig.venue) == []
        assert rig.state.orphans == {}


async def test_an_orphan_settled_between_the_market_and_position_reads_closes_at_its_result():
    # The chaos run's lost orphan: its market read open, the exchange settled it (the
    # position gone) before the position read; dropped as sold outside KBTC, its cost and
    # fees were never booked.
    script = Script(markets=markets(T), positions={T: ScriptedPosition(-400, cost=400 * 7000)})
    async with script_rig(script) as rig:
        await rig.reconciler.start()

        def settle(ticker: str) -> None:
            script.after_market_read = None
            script.markets[ticker].status, script.markets[ticker].result = "finalized", "yes"
            script.positions[ticker].signed = 0

        script.after_market_read = settle
        [close] = await check_orphans(rig.venue)
        assert close.reason == "ORPHAN_SETTLED"
        assert (close.side, close.count, close.proceeds) == ("no", 400, 0)
        assert close.pnl == -400 * 7000
        assert rig.state.orphans == {}
        assert T in rig.state.settled_tickers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_orm_threads")
async def test_a_409_exit_waits_for_settlement_and_a_stale_position_closes_as_expiry_409_settled():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "no", 2500, 200)
        rig.clock.forward(14 * 60)
        script.markets[T].status = "closed"
        script.create_status = 409
        await rig.exit("EXPIRY_GUARD")
        assert T in rig.state.closed_markets
        assert rig.state.state == "OPEN"  # waiting for settlement, no retry storm
        creates = len(script.created)
        script.markets[T].status, script.markets[T].result = "determined", "no"
        await rig.status(T, "determined", "no")  # the exchange still lists −2 (lag)
        orphan = rig.state.orphans[T]
        assert orphan.cause == "EXPIRY_409"
        assert orphan.counted
        assert orphan.cost == 200 * 7500
        assert rig.state.round_trips == 1
        [close] = await check_orphans(rig.venue)
        assert close.reason == "EXPIRY_409_SETTLED"
        assert close.pnl == 200 * 10_000 - 200 * 7500
        assert rig.state.round_trips == 1  # counted once on every path
        assert len(script.created) == creates
        # The lane's own trade carries the same label (the venue told the engine at the
        # 409); stored, it is what the orphan close is deduplicated against.
        [lane_trade] = rig.closed()
        assert (lane_trade.reason, lane_trade.pnl) == ("EXPIRY_409_SETTLED", close.pnl)
        await sync_to_async(_live_trade)(rig.now() - 1000, "EXPIRY_409_SETTLED")
        assert await sync_to_async(record_orphan_close)("live", close) is None


async def test_reconciliation_keeps_a_known_orphans_cost_and_fees_over_the_markets_totals():
    # The chaos run's double-counted fees: an exit that sold nothing orphaned the second
    # position on a market; each reconciliation re-adopted it with the exchange's fees
    # (the market's, the first round trip's entry and exit fees included).
    state = PositionManagerState()
    state.adopt_orphan(T, 5000, "EXIT_FAILED", T0, cost=5000 * 500, fees=170_000)
    script = Script(
        markets=markets(T), positions={T: ScriptedPosition(5000, cost=5000 * 500, fees=990_000)}
    )
    async with script_rig(script, state=state) as rig:
        assert (await rig.reconciler.start()).ok
        orphan = rig.state.orphans[T]
        assert (orphan.signed, orphan.cost, orphan.fees) == (5000, 5000 * 500, 170_000)
        script.positions[T] = ScriptedPosition(3000, cost=3000 * 500, fees=990_000)
        assert (await rig.reconciler.reconcile("periodic")).ok  # a new count: the exchange's
        orphan = rig.state.orphans[T]
        assert (orphan.signed, orphan.cost, orphan.fees) == (3000, 3000 * 500, 990_000)


async def test_cause_only_upgrades_and_counted_is_sticky():
    state = PositionManagerState()
    state.adopt_orphan(T, 100, "EXPIRY_409", 1, cost=4000, counted=True)
    state.adopt_orphan(T, 300, "RECONCILE", 2)
    orphan = state.orphans[T]
    assert (orphan.signed, orphan.cause, orphan.counted, orphan.detected_ts) == (
        300,
        "EXPIRY_409",
        True,
        1,
    )
    assert orphan.cost == 4000  # kept when the new adoption does not say
    state.adopt_orphan(OTHER, -100, "RECONCILE", 3)
    state.adopt_orphan(OTHER, -100, "EMERGENCY_STOP", 4)
    assert state.orphans[OTHER].cause == "EMERGENCY_STOP"


def test_a_snapshot_with_unknown_keys_and_old_orphans_restores():
    data = {
        "state": "FLAT",
        "orphans": {
            T: {
                "ticker": T,
                "signed": -300,
                "cause": "RECONCILE",
                "detected_ts": 5,
                "from_the_future": 1,
            }
        },
        "settled_tickers": [OTHER],
        "cooldowns": {OTHER: 99},
        "a_key_of_a_later_version": {"x": 1},
    }
    state = PositionManagerState.from_dict(data)
    assert state.orphans[T].signed == -300
    assert (state.orphans[T].cost, state.orphans[T].counted) == (0, False)
    assert state.settled_tickers == [OTHER]
    assert state.cooldowns == {OTHER: 99}


async def test_an_emergency_stop_that_cannot_sell_adopts_and_clears_in_one_write():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 200)
        script.create_status = 400  # every exit refused
        writes = len(rig.saved)
        await rig.exit("EMERGENCY_STOP")
        final = rig.saved[-1]
        assert final["state"] == "FLAT"
        assert final["position"] is None
        assert final["orphans"][T]["signed"] == 200
        assert final["orphans"][T]["cause"] == "EMERGENCY_STOP"
        assert final["orphans"][T]["cost"] == 200 * 4200
        # No write in between holds the position neither as ours nor as an orphan.
        for row in rig.saved[writes:]:
            assert row["position"] is not None or T in row["orphans"]


async def test_an_entry_answered_unfilled_that_filled_silently_is_adopted_via_the_exchange_count():
    script = Script(markets=markets(T), fill=lambda *order: 0, silent_fill=100)
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 100)
        assert rig.state.state == "DESYNC"  # the answer said 0, the exchange holds +1
        assert rig.engine.lanes["live"].position is None
        await rig.reconciler.reconcile("periodic")
        assert rig.state.state == "FLAT"
        orphan = rig.state.orphans[T]
        assert (orphan.signed, orphan.cost) == (100, 100 * 4200)
        assert "orphans held" in rig.state.entry_refusal(OTHER, rig.now(), None)


async def test_a_position_the_exchange_settled_before_the_lane_saw_the_result_is_no_ghost():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 300)
        rig.clock.forward(13 * 60)
        script.markets[T].status, script.markets[T].result = "determined", "yes"
        script.positions.clear()  # settled and paid on the exchange already
        await rig.reconciler.reconcile("periodic")
        assert rig.state.state == "OPEN"  # not cleared: settlement closes it
        assert rig.state.position is not None
        await rig.status(T, "determined", "yes")
        assert rig.state.state == "FLAT"
        assert rig.state.round_trips == 1
        assert T in rig.state.settled_tickers
        [closed] = rig.closed()
        assert closed.pnl > 0
